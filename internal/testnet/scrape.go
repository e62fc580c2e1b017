package testnet

import (
	"io"
	"net/http"
)

// Scrape returns the body served at url (a replica's /metrics), or the
// error as text, for tests that poll until a line appears.
func Scrape(client *http.Client, url string) string {
	resp, err := client.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
