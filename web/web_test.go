package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// maxModuleLines keeps every module short enough to read in one sitting, next
// to the Go client it mirrors.
const maxModuleLines = 150

var (
	// src="..." and href="..." in index.html.
	htmlRefRE = regexp.MustCompile(`(?:src|href)="([^"]+)"`)
	// import ... from './x.js' and import './x.js' in a module.
	importRE = regexp.MustCompile(`(?m)^\s*import\s+(?:[^'"]*\s+from\s+)?['"]([^'"]+)['"]`)
)

// local reports whether ref names one of our own files, not a link to the API,
// another site or an inline data: URL.
func local(ref string) bool {
	return !strings.Contains(ref, ":") && !strings.HasPrefix(ref, "api/") && !strings.HasPrefix(ref, "#") &&
		ref != "metrics" && ref != "healthz"
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(Files(), name)
	if err != nil {
		t.Fatalf("read embedded %s: %v", name, err)
	}
	return string(b)
}

func TestIndexReferencesOnlyEmbeddedFiles(t *testing.T) {
	html := readFile(t, "index.html")
	refs := htmlRefRE.FindAllStringSubmatch(html, -1)
	var locals int
	for _, m := range refs {
		ref := m[1]
		if !local(ref) {
			continue
		}
		locals++
		if _, err := fs.Stat(Files(), path.Clean(ref)); err != nil {
			t.Errorf("index.html references %q, which is not embedded: %v", ref, err)
		}
	}
	if locals < 2 {
		t.Fatalf("got %d local references in index.html, want at least style.css and app.js", locals)
	}
}

func TestEveryImportIsEmbedded(t *testing.T) {
	modules, err := fs.Glob(Files(), "*.js")
	if err != nil {
		t.Fatal(err)
	}
	if len(modules) < 5 {
		t.Fatalf("got %d embedded modules %v, want the dashboard's modules", len(modules), modules)
	}
	imported := map[string]bool{"app.js": true} // index.html loads app.js
	for _, name := range modules {
		t.Run(name, func(t *testing.T) {
			src := readFile(t, name)
			for _, m := range importRE.FindAllStringSubmatch(src, -1) {
				ref := m[1]
				if !strings.HasPrefix(ref, "./") {
					t.Errorf("%s imports %q: want a relative ./ path, no build step resolves bare names", name, ref)
					continue
				}
				target := path.Join(path.Dir(name), ref)
				imported[target] = true
				if _, err := fs.Stat(Files(), target); err != nil {
					t.Errorf("%s imports %q, which is not embedded: %v", name, ref, err)
				}
			}
			if lines := strings.Count(src, "\n"); lines > maxModuleLines {
				t.Errorf("%s has %d lines, want at most %d: split it", name, lines, maxModuleLines)
			}
		})
	}
	for _, name := range modules {
		if !imported[name] {
			t.Errorf("%s is embedded but nothing imports it", name)
		}
	}
}

// TestHandlerServesModules: browsers refuse a module script served with a
// type that is not JavaScript.
func TestHandlerServesModules(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, tt := range []struct{ path, wantType, wantBody string }{
		{"/", "text/html", `<script type="module" src="app.js">`},
		{"/app.js", "text/javascript", "import"},
		{"/style.css", "text/css", "#panels"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("got %d %q, want 200 %s", resp.StatusCode, ct, tt.wantType)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body lacks %q", tt.wantBody)
			}
		})
	}
}
