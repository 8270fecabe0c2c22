package mediation

// CheckFiles reads, changing nothing, the files beyond the config itself
// that the server reads before it binds: the state file (state.path: it
// must be whole and hold valid settings, unless State.Reset would move it
// aside) and admin.token_file. Validate has checked the rest (the
// directories of records.path and capture.pcap, the TLS files). Host
// names are not looked up. For `mediation serve --validate`, after
// Validate.
func (c *Config) CheckFiles() error {
	if c.State.Path != "" {
		if err := checkFilePath("state.path", c.State.Path); err != nil {
			return err
		}
		if _, _, _, err := readState(c.State.Path); err != nil && !c.State.Reset {
			return err
		}
	}
	if _, err := c.Admin.loadToken(); err != nil {
		return err
	}
	return nil
}
