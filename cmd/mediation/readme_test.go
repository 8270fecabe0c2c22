package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// repoRoot is where the README's commands run from.
var repoRoot = filepath.Join("..", "..")

// TestReadmeGoVersion checks that the Go version the README asks for is the
// go line of go.mod, so a new user installs one that builds.
func TestReadmeGoVersion(t *testing.T) {
	readme := readFile(t, filepath.Join(repoRoot, "README.md"))
	gomod := readFile(t, filepath.Join(repoRoot, "go.mod"))
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	got := regexp.MustCompile(`Go (\d+\.\d+)\+`).FindAllStringSubmatch(readme, -1)
	if len(got) == 0 {
		t.Fatal("README names no Go version (\"Go X.Y+\")")
	}
	for _, g := range got {
		if g[1] != m[1] {
			t.Errorf("README says Go %s+, go.mod says go %s", g[1], m[1])
		}
	}
}

// TestReadmeBuildPath checks that every binary the README builds lands on a
// path that is not a directory of the repository (go build -o mediation
// would write into the mediation/ package folder) and that the README runs
// the binary from that path.
func TestReadmeBuildPath(t *testing.T) {
	readme := readFile(t, filepath.Join(repoRoot, "README.md"))
	builds := regexp.MustCompile(`go build -o (\S+) \./cmd/mediation`).FindAllStringSubmatch(readme, -1)
	if len(builds) == 0 {
		t.Fatal("README builds no binary")
	}
	for _, b := range builds {
		out := b[1]
		if st, err := os.Stat(filepath.Join(repoRoot, out)); err == nil && st.IsDir() {
			t.Errorf("README builds to %q, which is a directory of the repository", out)
		}
		if !strings.Contains(readme, "./"+strings.TrimPrefix(out, "./")+" serve") {
			t.Errorf("README builds %q but never runs ./%s serve", out, out)
		}
	}
	if regexp.MustCompile(`(?m)^\./mediation `).MatchString(readme) {
		t.Error("README runs ./mediation, which is the mediation/ package folder")
	}
}

// TestBinaryDoesNotLinkTesting keeps test-only code out of the daemon: the
// testing package would add its flags and its weight to a production binary.
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	out, err := exec.CommandContext(ctx, goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" {
			t.Fatal("cmd/mediation links the testing package")
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
