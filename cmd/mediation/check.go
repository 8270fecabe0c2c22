package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/mediation-emulator/mediation/mediation"
	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/hybridconfig"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
	"github.com/mediation-emulator/mediation/sip"
)

// Outcomes of a check step.
const (
	checkPass = "pass"
	checkFail = "fail"
	checkSkip = "skip"
	// checkWarn: works, but not as configured (a trunk with one of its
	// addresses silent); it does not fail the check.
	checkWarn = "warn"
)

// checkStep is one line of `mediation check`.
type checkStep struct {
	Step   string `json:"step"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	// Fix says what to do about a failure, with the cmdlet or setting.
	Fix string `json:"fix"`
}

const checkUsage = `Usage: mediation check [flags]

Walks Cloud Connector's media bypass troubleshooting steps against a running
deployment and prints one line per step: the web service's name resolves for an
internal client (and not for an external one, with --dns); the web service
grants bypass to a supported build and refuses an old one; the settings show
Enabled, AlwaysBypass and the BypassID the web service hands out; each trunk
answers OPTIONS at each of its addresses (WARN when only some do, or when it
rests after a 503 with Retry-After); with --call, a test call is bypassed. With several --admin (a
pool), the settings and trunk steps run for each server and "settings match"
checks that they share Enabled, AlwaysBypass, BypassID and the web service URL.
Exit 0 only when no step fails (a WARN is no failure).
`

// checkRun holds the flags of `mediation check`.
type checkRun struct {
	admins            []string
	token, webService string
	dns               netip.AddrPort
	source, external  netip.Addr
	via               netip.AddrPort
	call              bool
	timeout           time.Duration
	steps             []checkStep
	// trunksUp counts the trunk steps that passed: a test call needs one.
	trunksUp int
}

func check(args []string) int {
	def := mediation.DefaultConfig()
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	var admins listFlag
	fs.Var(&admins, "admin", "admin API `URL` of a server; repeat (or comma-separate) for every server of a pool (default "+defaultAdmin+")")
	token := fs.String("token", "", "bearer `TOKEN` of the admin API (default $MEDIATION_ADMIN_TOKEN)")
	webService := fs.String("web-service", "", "bypass web service `URL` (default: the server's HybridConfigServiceInternalUrl)")
	dnsServer := fs.String("dns", "", "DNS server `IP:PORT` to resolve the web service's name through, as clients do")
	source := fs.String("source-ip", "127.0.0.1", "`IP` of an internal client")
	external := fs.String("external-ip", "127.0.0.2", "`IP` of an external client, for the DNS step")
	via := fs.String("via", def.Edge.Listen, "the server's edge side, `IP:PORT`, for --call")
	call := fs.Bool("call", false, "place a test call through the server and check that its media is bypassed")
	timeout := fs.Duration("timeout", 3*time.Second, "how long each step waits for an answer")
	asJSON := fs.Bool("json", false, "print the steps as one JSON object")
	if done, code := parseCommand(fs, args, checkUsage); done {
		return code
	}
	if len(admins) == 0 {
		admins = listFlag{defaultAdmin}
	}
	c := &checkRun{token: adminToken(*token), webService: *webService, call: *call, timeout: *timeout}
	for _, a := range admins {
		if err := httpURLFlag("admin", a); err != nil {
			return exitFor("check", err)
		}
		c.admins = append(c.admins, strings.TrimSuffix(a, "/"))
	}
	var err error
	if *dnsServer != "" {
		if c.dns, err = addrFlag("dns", *dnsServer, true); err != nil {
			return exitFor("check", err)
		}
	}
	if c.source, err = ipFlag("source-ip", *source); err != nil {
		return exitFor("check", err)
	}
	if c.external, err = ipFlag("external-ip", *external); err != nil {
		return exitFor("check", err)
	}
	if c.via, err = addrFlag("via", *via, true); err != nil {
		return exitFor("check", err)
	}
	if c.timeout <= 0 {
		return exitFor("check", usagef("--timeout %s: want a positive duration", c.timeout))
	}
	// sipgo's own chatter (connection bookkeeping) is not a check result.
	sip.SetDefaultLogger(zerolog.Nop())
	ctx, stop := signalContext()
	defer stop()
	c.run(ctx)
	pass := true
	for _, s := range c.steps {
		pass = pass && s.Status != checkFail
	}
	if *asJSON {
		out, _ := json.MarshalIndent(struct {
			Pass  bool        `json:"pass"`
			Steps []checkStep `json:"steps"`
		}{pass, c.steps}, "", "  ")
		fmt.Println(string(out))
	} else {
		for _, s := range c.steps {
			fmt.Println(s.line())
		}
	}
	if !pass {
		return exitFailure
	}
	return exitOK
}

func (s checkStep) line() string {
	l := fmt.Sprintf("%-4s  %-22s %s", strings.ToUpper(s.Status), s.Step, s.Detail)
	if s.Fix != "" {
		l += " -> " + s.Fix
	}
	return l
}

func (c *checkRun) add(step, status, detail, fix string) {
	c.steps = append(c.steps, checkStep{Step: step, Status: status, Detail: detail, Fix: fix})
}

// serverSettings is one server's GET /settings.
type serverSettings struct {
	admin string
	view  mediation.SettingsView
	err   error
}

// run walks the steps in the order of Cloud Connector's troubleshooting
// guide; the settings are read first because they name the web service.
// With several servers (a pool), the settings and trunk steps are run for
// each, and a last settings step compares them.
func (c *checkRun) run(ctx context.Context) {
	client := &http.Client{Timeout: c.timeout}
	all := make([]serverSettings, len(c.admins))
	for i, admin := range c.admins {
		v, err := adminSettings(client, http.MethodGet, admin, c.token, mediation.SettingsChange{})
		all[i] = serverSettings{admin, v, err}
	}
	url := c.webService
	answered := false
	for _, s := range all {
		if url == "" && s.err == nil {
			url = s.view.HybridConfigServiceInternalUrl
		}
		answered = answered || s.err == nil
	}
	var grant endpoint.BypassGrant
	if url == "" {
		// Never a default URL: on a shared host it may be another
		// deployment's server, whose PASS and BypassID would be taken for
		// this one's.
		c.add("dns internal", checkSkip, "no web service URL to resolve", "")
		c.add("dns external", checkSkip, "no web service URL to resolve", "")
		if answered {
			c.add("web service", checkFail, "the server's HybridConfigServiceInternalUrl is empty: clients have no web service to ask",
				"mediation settings set --web-service-url URL (Set-CsTenantHybridConfiguration -HybridConfigServiceInternalUrl)")
		} else {
			c.add("web service", checkFail, "the admin API did not answer (see settings), so the web service's URL is unknown",
				"give --web-service URL, or check --admin and --token")
		}
		c.add("web service old build", checkSkip, "web service not usable (see above)", "")
	} else {
		url = c.checkDNS(ctx, url)
		grant = c.checkWebService(ctx, url)
	}
	for _, s := range all {
		c.checkSettings(s, grant)
	}
	if len(all) > 1 {
		c.checkSettingsMatch(all)
	}
	for _, admin := range c.admins {
		c.checkTrunks(ctx, admin)
	}
	if c.call {
		c.checkCall(ctx, grant)
	}
}

// stepName is a per-server step's name: the step alone for one server,
// with the server's address (host:port of its admin URL) for a pool.
func (c *checkRun) stepName(step, admin string) string {
	if len(c.admins) < 2 {
		return step
	}
	return step + " " + adminHost(admin)
}

// adminHost is an admin URL's host:port, or the URL when it has none.
func adminHost(admin string) string {
	if u, err := url.Parse(admin); err == nil && u.Host != "" {
		return u.Host
	}
	return admin
}

// checkDNS resolves the web service's name as an internal client (it must
// resolve) and, with --dns, as an external one (it must not), and returns
// the URL to fetch.
func (c *checkRun) checkDNS(ctx context.Context, url string) string {
	named := url
	if isIPURL(url) {
		c.add("dns internal", checkSkip, "the web service URL names an IP address: no DNS involved", "")
		c.add("dns external", checkSkip, "the web service URL names an IP address: no DNS involved", "")
		return url
	}
	if !c.dns.IsValid() {
		if name, err := lookupSystem(ctx, url, c.timeout); err != nil {
			c.add("dns internal", checkFail, err.Error(), "publish an A record for the web service's name in the internal DNS")
		} else {
			c.add("dns internal", checkPass, name, "")
		}
		c.add("dns external", checkSkip, "give --dns IP:PORT to check that external clients cannot resolve the name", "")
		return url
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	in, err := resolveWebService(ctx, url, c.dns, c.source)
	switch {
	case err != nil:
		c.add("dns internal", checkFail, err.Error(), "check that the DNS server answers at "+c.dns.String())
	case in.URL == "":
		c.add("dns internal", checkFail, fmt.Sprintf("%s from %s: %s", in.Host, c.source, in.unresolvedReason()),
			"publish the name for the site's subnets (DNS policy with client subnets and zone scopes; dns.sites here)")
	default:
		c.add("dns internal", checkPass, fmt.Sprintf("%s resolves to %s for %s", in.Host, joinAddrs(in.Addrs), c.source), "")
		url = in.URL
	}
	ex, err := resolveWebService(ctx, named, c.dns, c.external)
	switch {
	case err != nil:
		c.add("dns external", checkFail, err.Error(), "check that the DNS server answers at "+c.dns.String())
	case ex.URL != "":
		c.add("dns external", checkFail, fmt.Sprintf("%s resolves to %s for the external address %s", ex.Host, joinAddrs(ex.Addrs), c.external),
			"external clients must not resolve the name: restrict the record to internal client subnets")
	default:
		c.add("dns external", checkPass, fmt.Sprintf("%s does not resolve for %s (%s)", ex.Host, c.external, ex.Rcode), "")
	}
	return url
}

// lookupSystem resolves the URL's host with the system resolver; "" when
// the host is an address.
func lookupSystem(ctx context.Context, rawURL string, timeout time.Duration) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", rawURL)
	}
	host := u.Hostname() // a name: checkDNS skips a URL with an IP address
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return "", fmt.Errorf("%s does not resolve: %v", host, err)
	}
	return fmt.Sprintf("%s resolves to %s (system resolver)", host, strings.Join(addrs, ", ")), nil
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// familyMismatch reports a URL whose host is an IP address of the other
// family than source: a client bound to source cannot reach it.
func familyMismatch(raw string, source netip.Addr) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(u.Hostname())
	return err == nil && source.IsValid() && ip.Unmap().Is4() != source.Unmap().Is4()
}

// isIPURL reports a URL whose host is an IP address.
func isIPURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	_, err = netip.ParseAddr(u.Hostname()) // Hostname drops an IPv6 literal's brackets
	return err == nil
}

// checkWebService asks the web service as a supported client (bypass must
// be granted) and as Lync 2013 (it must not be).
func (c *checkRun) checkWebService(ctx context.Context, url string) endpoint.BypassGrant {
	ctx, cancel := context.WithTimeout(ctx, 2*c.timeout)
	defer cancel()
	grant, err := endpoint.FetchBypass(ctx, url, endpoint.SfBUserAgent(mediationtest.SupportedVersion), c.source)
	switch {
	case err != nil:
		c.add("web service", checkFail, err.Error(), "check bypass.web_service_url (Set-CsTenantHybridConfiguration -HybridConfigServiceInternalUrl)")
		return grant
	case grant.Status == 0 && familyMismatch(url, c.source):
		// Our own client cannot reach it, whatever the firewall says.
		c.add("web service", checkFail, url+": "+grant.Reason, fmt.Sprintf(
			"--source-ip %s is not of the web service's address family: give --source-ip an address of its family (::1 or 127.0.0.1)", c.source))
	case grant.Status == 0:
		c.add("web service", checkFail, url+": "+grant.Reason, "check that http_listen is reachable from the client's subnet (firewall, URL, port)")
	case grant.Status == http.StatusForbidden:
		c.add("web service", checkFail, fmt.Sprintf("%s refused %s (403)", url, c.source), "add the client's subnet to bypass.internal_subnets")
	case grant.Status == http.StatusNotFound:
		c.add("web service", checkFail, fmt.Sprintf("%s: 404 Not Found", url),
			"check the URL's host, port and path: the web service is "+hybridconfig.Path+" on http_listen")
	case !grant.Enabled:
		c.add("web service", checkFail, fmt.Sprintf("%s: build %s: %s", url, mediationtest.SupportedVersion, grant.Reason),
			"enable bypass: mediation settings set --enabled=true (Set-CsNetworkConfiguration -MediaBypassSettings)")
	default:
		c.add("web service", checkPass, fmt.Sprintf("%s grants bypass to build %s, BypassID %s", url, mediationtest.SupportedVersion, grant.BypassID), "")
	}
	old, err := endpoint.FetchBypass(ctx, url, endpoint.SfBUserAgent(mediationtest.Lync2013Version), c.source)
	switch {
	case err != nil || old.Status != http.StatusOK:
		c.add("web service old build", checkSkip, "web service not usable (see above)", "")
	case old.Enabled:
		c.add("web service old build", checkFail, fmt.Sprintf("granted bypass to build %s", mediationtest.Lync2013Version),
			"clients older than 16.0.7870.2020 must not bypass")
	default:
		c.add("web service old build", checkPass, fmt.Sprintf("refuses bypass to build %s", mediationtest.Lync2013Version), "")
	}
	return grant
}

// checkSettings is Get-CsNetworkConfiguration -LocalStore on the server:
// Enabled=True, AlwaysBypass=True and the BypassID clients are handed.
func (c *checkRun) checkSettings(s serverSettings, grant endpoint.BypassGrant) {
	step, v := c.stepName("settings", s.admin), s.view
	if s.err != nil {
		c.add(step, checkFail, s.admin+": "+s.err.Error(), "check --admin and --token (admin.listen, admin.token)")
		return
	}
	var problems []string
	if !v.Enabled {
		problems = append(problems, "Enabled=False")
	}
	if !v.AlwaysBypass {
		problems = append(problems, "AlwaysBypass=False")
	}
	if v.BypassID == "" {
		problems = append(problems, "no BypassID")
	}
	if grant.Enabled && !strings.EqualFold(grant.BypassID, v.BypassID) {
		problems = append(problems, fmt.Sprintf("BypassID %s but the web service hands out %s", v.BypassID, grant.BypassID))
	}
	if len(problems) > 0 {
		c.add(step, checkFail, strings.Join(problems, ", "),
			"mediation settings set --enabled=true (New-CsNetworkMediaBypassConfiguration -AlwaysBypass $true -Enabled $true; Set-CsNetworkConfiguration)")
		return
	}
	c.add(step, checkPass, fmt.Sprintf("Enabled=True AlwaysBypass=True BypassID=%s", v.BypassID), "")
}

// checkSettingsMatch is Get-CsNetworkConfiguration -LocalStore compared
// across the pool: a client learns the BypassID from whichever server its
// web service request reaches and may call through any other, so Enabled,
// AlwaysBypass, BypassID and the web service URL must be the same on all.
func (c *checkRun) checkSettingsMatch(all []serverSettings) {
	const step = "settings match"
	var read []serverSettings
	for _, s := range all {
		if s.err == nil {
			read = append(read, s)
		}
	}
	if len(read) < 2 {
		c.add(step, checkSkip, fmt.Sprintf("%d of %d servers' settings read (see above)", len(read), len(all)), "")
		return
	}
	var differ []string
	for _, f := range []struct {
		name  string
		value func(mediation.SettingsView) string
		fold  bool
	}{
		{"Enabled", func(v mediation.SettingsView) string { return psBool(v.Enabled) }, false},
		{"AlwaysBypass", func(v mediation.SettingsView) string { return psBool(v.AlwaysBypass) }, false},
		{"BypassID", func(v mediation.SettingsView) string { return v.BypassID }, true},
		{"HybridConfigServiceInternalUrl", func(v mediation.SettingsView) string { return v.HybridConfigServiceInternalUrl }, false},
	} {
		first, same := f.value(read[0].view), true
		values := make([]string, len(read))
		for i, s := range read {
			v := f.value(s.view)
			same = same && (v == first || f.fold && strings.EqualFold(v, first))
			if v == "" {
				v = `""`
			}
			values[i] = adminHost(s.admin) + " " + v
		}
		if !same {
			differ = append(differ, f.name+" differs: "+strings.Join(values, ", "))
		}
	}
	if len(differ) > 0 {
		c.add(step, checkFail, strings.Join(differ, "; "),
			"set them on every server with one command: mediation settings set --admin "+strings.Join(c.admins, ",")+" --enabled=true (one BypassID for all; --bypass-id, --web-service-url to choose)")
		return
	}
	c.add(step, checkPass, fmt.Sprintf("%d servers: Enabled=%s AlwaysBypass=%s BypassID=%s HybridConfigServiceInternalUrl=%s", len(read),
		psBool(read[0].view.Enabled), psBool(read[0].view.AlwaysBypass), read[0].view.BypassID, read[0].view.HybridConfigServiceInternalUrl), "")
}

// checkTrunks sends OPTIONS to every address of every trunk the server
// lists.
func (c *checkRun) checkTrunks(ctx context.Context, admin string) {
	var trunks []mediation.TrunkState
	if err := c.adminGet(admin, "/gateways", &trunks); err != nil {
		c.add(c.stepName("trunks", admin), checkFail, admin+": "+err.Error(), "check --admin and --token")
		return
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("mediation check"), sipgo.WithUserAgentHostname(c.source.String()))
	if err != nil {
		c.add("trunks", checkFail, err.Error(), "")
		return
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname(c.source.String()))
	if err != nil {
		c.add("trunks", checkFail, err.Error(), "")
		return
	}
	defer client.Close()
	for _, t := range trunks {
		step := c.stepName("trunk "+t.Name, admin)
		if t.Unresolved || len(t.Addresses) == 0 && t.Address == "" {
			// Nothing to send an OPTIONS to: the server has no address
			// for the trunk's host name.
			host := t.Host
			if host == "" {
				host = "its host name"
			}
			c.add(step, checkFail, fmt.Sprintf("%s (%s) does not resolve: the trunk takes no calls until it does", host, t.Transport),
				fmt.Sprintf("check the DNS records of %s (SRV when the address has no port, else A/AAAA) and the resolver the server asks (gateway_dns.resolver; empty: the first nameserver of /etc/resolv.conf); the server's log says what the lookup got", host))
			continue
		}
		addrs := trunkAddresses(t)
		if strings.EqualFold(t.Transport, "tls") {
			// The server's TLS towards the trunk (tls_name as SNI, tls.ca,
			// its client certificate) is not check's to repeat: its own
			// OPTIONS probes say whether each address answers.
			if !t.Probed {
				c.add(step, checkSkip, fmt.Sprintf("%s/tls: the server does not probe its trunks (gateway_health.enabled false), and check cannot repeat its TLS", strings.Join(addrs, ", ")),
					"")
				continue
			}
			// An address is up from start until its probes fail: only
			// one whose probe got a reply is known to answer.
			results := make([]addrResult, len(addrs))
			pending := 0
			for k, a := range addrs {
				results[k] = addrResult{addr: a, detail: a + "/tls does not answer the server's OPTIONS probes"}
				switch {
				case len(t.Addresses) == 0: // from a server that does not list them
				case !t.Addresses[k].Up: // answered once, maybe, but down now
				case t.Addresses[k].Answered:
					results[k] = addrResult{addr: a, ok: true, detail: a + "/tls answers the server's OPTIONS probes"}
				case t.Addresses[k].Up:
					results[k].detail = a + "/tls not probed yet (no reply to the server's OPTIONS probes so far)"
					pending++
				}
			}
			if pending == len(results) {
				c.add(step, checkSkip, fmt.Sprintf("%s/tls: not probed yet: no reply to the server's OPTIONS probes so far (the first goes one gateway_health.interval after start), and check cannot repeat its TLS", strings.Join(addrs, ", ")),
					"run check again after gateway_health.interval")
				continue
			}
			c.addTrunk(step, t, results,
				"check that the SBC is up and listens there, and the TLS names and CA (tls_name, tls.ca): the server's log says what failed")
			continue
		}
		results := make([]addrResult, len(addrs))
		var wg sync.WaitGroup
		for k, a := range addrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				detail, err := c.options(ctx, client, a, t.Transport)
				results[k] = addrResult{addr: a, ok: err == nil, detail: fmt.Sprintf("%s/%s answered OPTIONS: %s", a, t.Transport, detail)}
				if err != nil {
					results[k].detail = fmt.Sprintf("%s/%s: %v", a, t.Transport, err)
				}
			}()
		}
		wg.Wait()
		c.addTrunk(step, t, results, "check that the SBC is up, listens there and trusts the mediation server (Set-CsTrunkConfiguration)")
	}
}

// trunkAddresses are the addresses of a trunk to check: every one it has
// (all its host name resolves to), or its address alone from a server
// that does not list them.
func trunkAddresses(t mediation.TrunkState) []string {
	if len(t.Addresses) == 0 {
		return []string{t.Address}
	}
	addrs := make([]string, len(t.Addresses))
	for k, a := range t.Addresses {
		addrs[k] = a.Address
	}
	return addrs
}

// addrResult is what one address of a trunk answered.
type addrResult struct {
	addr   string
	ok     bool
	detail string
}

// addTrunk adds a trunk's step from its addresses' results: PASS when
// every address answers (WARN if the trunk rests after a 503), FAIL when none does (failFix says what to
// check), and WARN naming the silent ones when some answer: the trunk
// takes calls at the others (once the server's probes mark the silent
// ones down, its calls try them last), but an SBC of it is down.
func (c *checkRun) addTrunk(step string, t mediation.TrunkState, results []addrResult, failFix string) {
	var good, bad, dead []string
	for _, r := range results {
		if r.ok {
			good = append(good, r.detail)
		} else {
			bad = append(bad, r.detail)
			dead = append(dead, r.addr)
		}
	}
	switch {
	case len(bad) == 0 && t.UnavailableUntil != nil:
		// It answers OPTIONS but refused a call with 503 and
		// Retry-After: the server sends it no calls until then
		// (r24-ops F2).
		c.add(step, checkWarn, fmt.Sprintf("%s; resting after a 503 with Retry-After until %s: the server sends it no calls until then",
			strings.Join(good, "; "), t.UnavailableUntil.UTC().Format(time.RFC3339)),
			"the SBC refused a call with 503 (overloaded or out of service): calls go to the other trunks meanwhile; check the SBC's capacity and its log")
		c.trunksUp++
	case len(bad) == 0:
		c.add(step, checkPass, strings.Join(good, "; "), "")
		c.trunksUp++
	case len(good) == 0:
		c.add(step, checkFail, strings.Join(bad, "; "), failFix)
	default:
		name := t.Host
		if name == "" {
			name = t.Name
		}
		c.add(step, checkWarn, fmt.Sprintf("%d of %d addresses do not answer: %s; %s", len(bad), len(results), strings.Join(bad, "; "), strings.Join(good, "; ")),
			fmt.Sprintf("the trunk takes calls at its other addresses (once the server's OPTIONS probes mark it down, calls try %s last): bring that SBC back, or take it out of %s's DNS records", strings.Join(dead, ", "), name))
		c.trunksUp++
	}
}

// options sends one OPTIONS to a trunk's address; any final response
// counts as an answer: the SBC is there and speaks SIP.
func (c *checkRun) options(ctx context.Context, client *sipgo.Client, address, transport string) (string, error) {
	addr, err := netip.ParseAddrPort(address)
	if err != nil {
		return "", fmt.Errorf("address: %w", err)
	}
	req := gosip.NewRequest(gosip.OPTIONS, gosip.Uri{Scheme: "sip", Host: sip.URIHost(addr.Addr()), Port: int(addr.Port())})
	req.SetTransport(strings.ToUpper(transport))
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	res, err := client.Do(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("no answer to OPTIONS within %s", c.timeout)
		}
		return "", err
	}
	return fmt.Sprintf("%d %s in %d ms", res.StatusCode, res.Reason, time.Since(start).Milliseconds()), nil
}

// adminGet reads one admin API resource of a server into v.
func (c *checkRun) adminGet(admin, path string, v any) error {
	data, err := adminRequest(&http.Client{Timeout: c.timeout}, http.MethodGet, admin+path, c.token, nil)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// checkCall places a call as a supported client with the BypassID the web
// service handed out, and checks that its media is bypassed: RTP straight
// from the SBC.
func (c *checkRun) checkCall(ctx context.Context, grant endpoint.BypassGrant) {
	if !grant.Enabled {
		c.add("bypass call", checkFail, "the web service granted no bypass (see above)", "fix the steps above first")
		return
	}
	if c.trunksUp == 0 {
		// The call would ring into a trunk that does not answer until
		// its timeout and tell nothing more than the trunk steps.
		c.add("bypass call", checkFail, "no trunk answers (see the trunk steps): no test call placed", "fix the trunk steps above first")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*c.timeout+10*time.Second)
	defer cancel()
	ep, err := endpoint.StartClient(ctx, endpoint.ClientConfig{Listen: netip.AddrPortFrom(c.source, 0).String(), MediaIP: c.source,
		BypassID: grant.BypassID, UserAgent: endpoint.SfBUserAgent(mediationtest.SupportedVersion), Log: zerolog.Nop()})
	if err != nil {
		c.add("bypass call", checkFail, err.Error(), "")
		return
	}
	defer ep.Close()
	r, err := ep.Call(ctx, endpoint.CallOptions{Target: c.via, To: "+15550100", From: "+15550111", Duration: time.Second})
	mp := clientPath(r)
	switch {
	case r.Code != 200:
		c.add("bypass call", checkFail, fmt.Sprintf("call via %s not answered (%d; %v)", c.via, r.Code, err), "check the trunk and the SBC's routing")
	case mp.path != pathBypassed:
		c.add("bypass call", checkFail, fmt.Sprintf("media %s: %s", mp.path, mp.why),
			"check the trunk's enable_bypass (Set-CsTrunkConfiguration -EnableBypass $true) and that the SBC accepts media from clients")
	default:
		c.add("bypass call", checkPass, fmt.Sprintf("bypassed: %s", mp.drawn), "")
	}
}
