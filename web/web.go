// Package web holds the browser dashboard: plain ES modules and CSS, embedded in
// the binary, no build step.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed index.html *.js *.css
var files embed.FS

// Files returns the dashboard's files.
func Files() fs.FS { return files }

// Handler serves the dashboard's files.
func Handler() http.Handler {
	return http.FileServerFS(files)
}
