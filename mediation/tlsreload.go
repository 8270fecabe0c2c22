package mediation

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// tlsFiles is what tls.cert, tls.key and tls.ca held when they were read:
// at start, and at each SIGHUP whose files are all good (Server.reloadTLS).
type tlsFiles struct {
	cert *tls.Certificate // nil without tls.cert
	pool *x509.CertPool   // nil without tls.ca: the system's roots
}

// tlsStore holds the TLS files in use. Every handshake, on a listener or
// dialled, reads them from it, no lock held across one; a reload swaps
// them whole, so each read gives one good set. A handshake reads the
// store more than once, though: the CA when it starts (the ClientHello,
// the dial) or ends (VerifyConnection), our certificate when it is sent.
// A reload in between gives it the new certificate with the old CA, or
// the reverse: harmless, as both sets were good files. Connections
// already up keep the certificate they were made with: TLS checks
// certificates at the handshake only.
type tlsStore struct {
	cfg      TLSConfig
	cur      atomic.Pointer[tlsFiles]
	failures atomic.Uint64 // reloads refused, the files in use kept
}

// newTLSStore reads t's files; nil without any TLS.
func newTLSStore(t TLSConfig) (*tlsStore, error) {
	if !t.enabled() {
		return nil, nil
	}
	f, err := readTLSFiles(t)
	if err != nil {
		return nil, err
	}
	st := &tlsStore{cfg: t}
	st.cur.Store(f)
	return st, nil
}

// tlsFileError is a TLS file that cannot be used: its config key, its
// path and why.
type tlsFileError struct {
	field, path string
	err         error
}

func (e *tlsFileError) Error() string { return fmt.Sprintf("%s %s: %v", e.field, e.path, e.err) }
func (e *tlsFileError) Unwrap() error { return e.err }

// readTLSFiles reads and parses t's certificate, key and CA bundle,
// strictly (pemCertificates): a file caught half written at a SIGHUP
// must be refused, not taken for what parsed before the cut. serve
// --validate and the start read them with it too.
func readTLSFiles(t TLSConfig) (*tlsFiles, error) {
	f := &tlsFiles{}
	if t.Cert != "" {
		certPEM, err := os.ReadFile(t.Cert)
		if err != nil {
			return nil, &tlsFileError{"tls.cert", t.Cert, err}
		}
		// The chain is parsed before the key, so that a certificate
		// that cannot be used is blamed on tls.cert: crypto/tls's
		// errors for a malformed one do not say which input it was.
		// Other blocks are left to the key (a file holding both).
		if _, err := pemCertificates(certPEM, true); err != nil {
			return nil, &tlsFileError{"tls.cert", t.Cert, err}
		}
		keyPEM, err := os.ReadFile(t.Key)
		if err != nil {
			return nil, &tlsFileError{"tls.key", t.Key, err}
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// The certificates parsed: the key is unparseable, or not
			// the certificate's.
			return nil, &tlsFileError{"tls.key", t.Key, fmt.Errorf("%w (tls.cert %s)", err, t.Cert)}
		}
		if pair.Leaf == nil { // GODEBUG x509keypairleaf=0
			if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
				return nil, &tlsFileError{"tls.cert", t.Cert, err}
			}
		}
		f.cert = &pair
	}
	if t.CA != "" {
		pemData, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, &tlsFileError{"tls.ca", t.CA, err}
		}
		cas, err := pemCertificates(pemData, false)
		if err != nil {
			return nil, &tlsFileError{"tls.ca", t.CA, err}
		}
		f.pool = x509.NewCertPool()
		for _, c := range cas {
			f.pool.AddCert(c)
		}
	}
	return f, nil
}

// pemBegin starts every PEM block (RFC 7468 §2).
const pemBegin = "-----BEGIN"

// pemCertificates parses every CERTIFICATE block of data, at least one.
// x509.CertPool.AppendCertsFromPEM takes a bundle if any certificate in
// it parses, and tls.X509KeyPair stops at the first block it cannot
// decode: either takes a file cut short for whole. Here every block must
// decode, each certificate parse, and nothing but whitespace follow the
// last block. Text before a block is allowed (openssl's "Bag Attributes"
// and "subject=" lines). other says whether blocks of another type may
// be in the file (tls.cert holding the key too), else they are refused
// (tls.ca is certificates only).
func pemCertificates(data []byte, other bool) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		i := bytes.Index(data, []byte(pemBegin))
		if i < 0 {
			// Text in a file of no PEM block at all (n 1) is no
			// certificate, below.
			if n > 1 && len(bytes.TrimSpace(data)) > 0 {
				return nil, errors.New("text after the last PEM block: is the file cut short, or being written?")
			}
			break
		}
		// Decode this block alone: pem.Decode skips one it cannot
		// decode and goes on to the next.
		data = data[i:]
		end := len(data)
		if j := bytes.Index(data[len(pemBegin):], []byte(pemBegin)); j >= 0 {
			end = len(pemBegin) + j
		}
		block, rest := pem.Decode(data[:end])
		if block == nil {
			return nil, fmt.Errorf("PEM block %d cannot be decoded: is the file cut short, or being written?", n)
		}
		data = data[end-len(rest):]
		switch {
		case block.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM block %d: %w", n, err)
			}
			certs = append(certs, c)
		case !other:
			return nil, fmt.Errorf("PEM block %d is a %s, not a certificate", n, block.Type)
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate in the file")
	}
	return certs, nil
}

// files are the TLS files in use.
func (st *tlsStore) files() *tlsFiles { return st.cur.Load() }

// pool is tls.ca in use (nil: the system's roots).
func (st *tlsStore) pool() *x509.CertPool { return st.files().pool }

// leaf is tls.cert's certificate in use; nil without one.
func (st *tlsStore) leaf() *x509.Certificate { return st.files().leaf() }

// leaf is the parsed certificate of tls.cert, nil without one.
func (f *tlsFiles) leaf() *x509.Certificate {
	if f.cert != nil {
		return f.cert.Leaf
	}
	return nil
}

// certificate is our certificate for a handshake on our listeners.
func (st *tlsStore) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := st.files().cert; c != nil {
		return c, nil
	}
	return nil, errors.New("tls: no certificate (tls.cert)")
}

// clientCertificate is ours for a peer that asks for one when we dial it;
// none when the peer could not take it (as crypto/tls does with
// Certificates: the peer then decides whether to go on without).
func (st *tlsStore) clientCertificate(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c := st.files().cert
	if c == nil || cri.SupportsCertificate(c) != nil {
		return &tls.Certificate{}, nil
	}
	return c, nil
}

// tlsReloadSkew is how far ahead of our clock a certificate's start may
// be and still be taken at a reload: a CA whose clock is a little ahead
// of ours, issuing from its now (labca and Let's Encrypt start theirs an
// hour before, so they are valid at once).
const tlsReloadSkew = 5 * time.Minute

// reload reads the files again and, when they are all good, makes them
// the ones in use. A certificate that has expired, or is not valid yet
// (beyond tlsReloadSkew), is refused too: peers would refuse every
// handshake with it (until it starts), while the one in use may still
// be valid. now is the time it is checked against.
func (st *tlsStore) reload(now time.Time) (*tlsFiles, error) {
	f, err := readTLSFiles(st.cfg)
	if err == nil && f.cert != nil {
		if _, why := leafInvalid(f.cert.Leaf, now, tlsReloadSkew); why != "" {
			err = &tlsFileError{"tls.cert", st.cfg.Cert, errors.New(why)}
		}
	}
	if err != nil {
		st.failures.Add(1)
		return nil, err
	}
	st.cur.Store(f)
	return f, nil
}

// reloadTLS re-reads tls.cert, tls.key and tls.ca (SIGHUP): new
// handshakes, on the listeners and dialled, use the new files; a file
// that cannot be used keeps the ones in use, logged at error and counted
// in mediationserver_tls_reload_failures_total.
func (s *Server) reloadTLS() {
	if s.tls == nil {
		return
	}
	now := time.Now()
	f, err := s.tls.reload(now)
	if err != nil {
		ev := s.log.Error().Err(err)
		var fe *tlsFileError
		if errors.As(err, &fe) {
			ev = ev.Str("field", fe.field).Str("file", fe.path)
		}
		ev.Msg("cannot re-read the TLS files: new handshakes keep the certificate and CA in use")
		return
	}
	ev := s.log.Info().Str("cert", s.cfg.TLS.Cert).Str("ca", s.cfg.TLS.CA)
	if f.cert != nil {
		leaf := f.cert.Leaf
		ev = ev.Str("subject", leaf.Subject.String()).Strs("dns_names", leaf.DNSNames).
			Strs("ip_addresses", ipStrings(leaf)).Time("not_after", leaf.NotAfter.UTC())
	}
	ev.Msg("TLS files re-read: new handshakes use them, connections up keep theirs")
	// f's certificate, not the store's: another SIGHUP may have swapped it.
	if w := s.cfg.TLS.leafWarning(f.leaf(), now); w != "" {
		s.log.Warn().Str("cert", s.cfg.TLS.Cert).Msg(w)
	}
}

func ipStrings(c *x509.Certificate) []string {
	out := make([]string, len(c.IPAddresses))
	for i, ip := range c.IPAddresses {
		out[i] = ip.String()
	}
	return out
}

// registerTLSMetrics counts refused reloads and shows the expiry of the
// certificate in use, so that a renewal that did not take is seen.
func (s *Server) registerTLSMetrics() {
	st := s.tls
	if st == nil {
		return
	}
	s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "mediationserver_tls_reload_failures_total",
		Help: "SIGHUPs whose tls.cert, tls.key or tls.ca could not be used (missing, unparseable or cut short, a key not the certificate's, a certificate expired or not valid yet): the files in use were kept.",
	}, func() float64 { return float64(st.failures.Load()) }))
	if st.leaf() == nil {
		return
	}
	s.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mediationserver_tls_cert_not_after_seconds",
		Help: "When the certificate in use (tls.cert, as read at start or at the last SIGHUP that took) expires, in seconds since the Unix epoch.",
	}, func() float64 { return float64(st.leaf().NotAfter.Unix()) }))
}
