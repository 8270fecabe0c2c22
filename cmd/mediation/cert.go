package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mediation-emulator/mediation/mediation/labca"
)

const certUsage = `Usage: mediation cert [flags]

Makes the certificates of a SIP-over-TLS lab in --dir, with crypto/x509 (no
openssl): a CA (ca.pem, ca-key.pem), the mediation server's certificate
(server.pem, server-key.pem) and an SBC's client certificate (client.pem,
client-key.pem). Point tls.cert, tls.key and tls.ca of the configuration at
them. For labs and tests only: the CA's key is kept beside the certificates.
`

// cert writes a lab CA and certificates.
func cert(args []string) int {
	fs := flag.NewFlagSet("cert", flag.ContinueOnError)
	dir := fs.String("dir", "certs", "`directory` to write the files to (created if missing)")
	server := fs.String("server-names", "mediation.lab,127.0.0.1,::1", "comma-separated DNS names and IPs of the server certificate")
	client := fs.String("client-names", "sbc.lab,127.0.0.1,::1", "comma-separated DNS names and IPs of the SBC's client certificate")
	validity := fs.Duration("validity", 365*24*time.Hour, "how long the certificates are valid from now (they are valid from an hour ago too, for clock skew)")
	if done, code := parseCommand(fs, args, certUsage); done {
		return code
	}
	if *validity <= 0 {
		fmt.Fprintf(os.Stderr, "mediation: cert: --validity %v: want a positive duration\n", *validity)
		return exitUsage
	}
	opt := labca.Options{ServerNames: names(*server), ClientNames: names(*client), Validity: *validity}
	if err := labca.Generate(*dir, opt); err != nil {
		return exitFor("cert", err)
	}
	fmt.Printf("wrote %s/{%s,%s,%s,%s,%s,%s}\n", *dir, labca.CAFile, labca.CAKeyFile, labca.ServerFile,
		labca.ServerKeyFile, labca.ClientFile, labca.ClientKeyFile)
	return exitOK
}

func names(list string) []string {
	var out []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}
