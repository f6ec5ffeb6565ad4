package forgetest_test

import (
	"net/http"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/forge/forgetest"
)

func TestStartClosesOnCleanup(t *testing.T) {
	var url string
	t.Run("inner", func(t *testing.T) {
		s := forgetest.Start(t, forgetest.Options{})
		url = s.URL
		resp, err := http.Get(url + "/sdapi/v1/options")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(s.RequestsTo("/sdapi/v1/options")) != 1 {
			t.Fatalf("status %d, %d recorded", resp.StatusCode, len(s.Requests()))
		}
	})
	if resp, err := http.Get(url + "/sdapi/v1/options"); err == nil {
		resp.Body.Close()
		t.Fatal("the fake still answers after its test ended")
	}
}

func TestConfigIsValid(t *testing.T) {
	s := forgetest.Start(t, forgetest.Options{})
	c := s.Config()
	if err := c.Validate(true); err != nil || c.BaseURL != s.URL {
		t.Fatalf("Validate = %v, base %q (fake %q)", err, c.BaseURL, s.URL)
	}
}
