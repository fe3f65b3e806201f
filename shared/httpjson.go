package shared

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client is gone if this fails; nothing to do
}

// WriteError writes the contract's error body: {"error": "..."}.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}

// Query parses the request's query string strictly. r.URL.Query() silently
// drops a badly encoded pair, so "?since=%zz" would look like no since at all;
// the contract says a malformed parameter gets a 400.
func Query(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("malformed query string: %w", err)
	}
	return q, nil
}
