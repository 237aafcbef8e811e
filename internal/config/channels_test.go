package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The channels section (issue 11): defaults, the comma-separated allow
// list from the environment, and bad values naming their key.
func TestChannels(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Channels.AllowHosts) != 0 || c.Channels.PerMinute != 20 || c.Channels.Timeout.Duration != 10*time.Second {
		t.Fatalf("defaults %+v", c.Channels)
	}
	c, err = Load("", []string{"TWINNING_CHANNELS_ALLOW_HOSTS=127.0.0.1, robots.intranet.example", "TWINNING_CHANNELS_PER_MINUTE=10"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Channels.AllowHosts, []string{"127.0.0.1", "robots.intranet.example"}) || c.Channels.PerMinute != 10 {
		t.Fatalf("from the environment: %+v", c.Channels)
	}
	for _, tc := range []struct{ env, key string }{
		{"TWINNING_CHANNELS_ALLOW_HOSTS=http://evil.example", "channels.allow_hosts"},
		{"TWINNING_CHANNELS_ALLOW_HOSTS=evil.example:8080", "channels.allow_hosts"},
		{"TWINNING_CHANNELS_PER_MINUTE=0", "channels.per_minute"},
		{"TWINNING_CHANNELS_TIMEOUT=0s", "channels.timeout"},
	} {
		if _, err := Load("", []string{tc.env}); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v, want an error naming %s", tc.env, err, tc.key)
		}
	}
}
