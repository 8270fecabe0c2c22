// Reference implementations: the straightforward code the hot paths of
// this package replaced, kept to check that the fast paths give the same
// results on any input.

package sdp

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// referenceNewlines is what Parse fed pion before it learnt to pass CRLF
// bodies through: every CRLF and lone CR turned into LF, leading blank
// space dropped, the last line terminated.
func referenceNewlines(body []byte) []byte {
	b := bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	b = bytes.TrimLeft(b, " \t\n")
	if !bytes.HasSuffix(b, []byte("\n")) {
		b = append(b, '\n')
	}
	return b
}

// FuzzNewlines checks that Parse reads any body as it reads the body with
// all line endings turned into LF: same Media, same failure class. (The
// position in a pion syntax error may differ: it counts the body's bytes.)
func FuzzNewlines(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.sdp"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")))
		f.Add(bytes.ReplaceAll(b, []byte("\n"), []byte("\r")))
		f.Add(bytes.TrimSuffix(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")), []byte("\r\n")))
		f.Add(append([]byte(" \r\n\t\r"), bytes.ReplaceAll(b, []byte("a="), []byte("\r\na="))...))
	}
	f.Add([]byte{})
	f.Add([]byte("\r\n"))
	f.Add([]byte("v=0\r\no=- 0 0 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\na=x\rsendonly\r\n"))
	f.Add([]byte("v=0\r\no=- 0 0 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 1 RTP/AVP 0 \r\na=sendonly \r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotErr := Parse(body)
		want, wantErr := Parse(referenceNewlines(body))
		if (gotErr == nil) != (wantErr == nil) ||
			errors.Is(gotErr, ErrUnparseable) != errors.Is(wantErr, ErrUnparseable) ||
			errors.Is(gotErr, ErrNoAudio) != errors.Is(wantErr, ErrNoAudio) {
			t.Fatalf("Parse(%q): error %v, with LF line endings %v", body, gotErr, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Parse(%q):\n got %+v\nwant %+v (with LF line endings)", body, got, want)
		}
	})
}
