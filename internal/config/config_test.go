package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsNeedNoFile(t *testing.T) {
	t.Chdir(t.TempDir()) // no config/twinning.yaml here
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.DataDir != "./data" || c.DB.Driver != "sqlite" || c.Timezone != "Asia/Shanghai" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if c.Location.String() != "Asia/Shanghai" || c.Compliance.GraceDays != 7 || len(c.Compliance.ReminderDays) != 3 {
		t.Fatalf("unexpected derived values: %v %+v", c.Location, c.Compliance)
	}
	if c.DB.ConnMaxLifetime.Duration >= 5*time.Minute {
		t.Fatalf("conn_max_lifetime %v must be under 5m", c.DB.ConnMaxLifetime)
	}
}

func TestFileThenEnvironment(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("http_addr: \":9000\"\nsmtp:\n  host: mail.example\n  port: 2525\ncompliance:\n  reminder_days: [10]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, []string{"TWINNING_SMTP_PORT=465", "TWINNING_SMTP_TLS=tls", "TWINNING_COMPLIANCE_REMINDER_DAYS=21, 3", "TWINNING_TOKEN_TTL=1h"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":9000" || c.SMTP.Host != "mail.example" {
		t.Errorf("file values not applied: %+v", c)
	}
	if c.SMTP.Port != 465 || c.SMTP.TLS != "tls" || c.TokenTTL.Duration != time.Hour {
		t.Errorf("environment did not override: port %d tls %s ttl %v", c.SMTP.Port, c.SMTP.TLS, c.TokenTTL)
	}
	if len(c.Compliance.ReminderDays) != 2 || c.Compliance.ReminderDays[0] != 21 || c.Compliance.ReminderDays[1] != 3 {
		t.Errorf("reminder_days = %v, want [21 3]", c.Compliance.ReminderDays)
	}
}

func TestBadValuesNameTheKey(t *testing.T) {
	cases := []struct {
		env  []string
		file string
		key  string
	}{
		{env: []string{"TWINNING_DB_DRIVER=postgres"}, key: "db.driver"},
		{env: []string{"TWINNING_DB_DRIVER=mysql"}, key: "db.dsn"},
		{env: []string{"TWINNING_DB_DRIVER=mysql", "TWINNING_DB_DSN=root@/x"}, key: "secret_key"},
		{env: []string{"TWINNING_TIMEZONE=Mars/Olympus"}, key: "timezone"},
		{env: []string{"TWINNING_SMTP_TLS=ssl"}, key: "smtp.tls"},
		{env: []string{"TWINNING_SMTP_PORT=abc"}, key: "TWINNING_SMTP_PORT"},
		{env: []string{"TWINNING_TOKEN_TTL=forever"}, key: "TWINNING_TOKEN_TTL"},
		{env: []string{"TWINNING_HTTP_ADDR=8080"}, key: "http_addr"},
		{env: []string{"TWINNING_SECRET_KEY=short"}, key: "secret_key"},
		{env: []string{"TWINNING_DB_CONN_MAX_LIFETIME=10m"}, key: "db.conn_max_lifetime"},
		{env: []string{"TWINNING_COMPLIANCE_GRACE_DAYS=-1"}, key: "compliance.grace_days"},
		{file: "smtp:\n  hots: x\n", key: "hots"},
		{env: []string{"TWINNING_SCHEDULE_SWEEP=every day"}, key: "schedule.sweep"},
		{env: []string{"TWINNING_SMTP_FROM=not an address"}, key: "smtp.from"},
		// cluster
		{env: []string{"TWINNING_DB_SYNC_WAIT=always"}, key: "db.sync_wait"},
		{env: []string{"TWINNING_DB_SYNC_WAIT=16"}, key: "db.sync_wait"},
		{env: []string{"TWINNING_DB_TX_ATTEMPTS=0"}, key: "db.tx_attempts"},
		{env: []string{"TWINNING_DB_TX_BACKOFF=2s"}, key: "db.tx_backoff"},
		{env: []string{"TWINNING_DB_READY_TIMEOUT=0s"}, key: "db.ready_timeout"},
		{env: []string{"TWINNING_SCHEDULE_CLAIM_LEASE=30s"}, key: "schedule.claim_lease"},
		{env: []string{"TWINNING_SMTP_LEASE=1s"}, key: "smtp.lease"},
	}
	for _, tc := range cases {
		file := ""
		if tc.file != "" {
			file = filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(file, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Load(file, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%v %q: error %v, want one naming %s", tc.env, tc.file, err, tc.key)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1M": 1 << 20, "512K": 512 << 10, "100": 100, "10m": 10 << 20} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1M", "0"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) accepted", in)
		}
	}
}
