// Package config is the typed configuration: built-in defaults, then a YAML
// file, then TWINNING_* environment variables, then Validate. It is passed
// explicitly from the composition root; nothing reads it globally.
package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	defaults "github.com/twinning-platform/twinning/config"
)

// Config is every setting of the service.
type Config struct {
	HTTPAddr       string   `yaml:"http_addr"`
	BaseURL        string   `yaml:"base_url"`
	DataDir        string   `yaml:"data_dir"`
	Timezone       string   `yaml:"timezone"`
	SecretKey      string   `yaml:"secret_key"`
	TokenTTL       Duration `yaml:"token_ttl"`
	RequestTimeout Duration `yaml:"request_timeout"`
	BodyLimit      string   `yaml:"body_limit"`
	TrustedProxies []string `yaml:"trusted_proxies"`
	DB             DB       `yaml:"db"`
	SMTP           SMTP     `yaml:"smtp"`
	Schedule       Schedule `yaml:"schedule"`
	Compliance     Rules    `yaml:"compliance"`
	Evidence       Evidence `yaml:"evidence"`
	Import         Import   `yaml:"import"`
	Accounts       Accounts `yaml:"accounts"`
	Channels       Channels `yaml:"channels"`
	HTTP           HTTP     `yaml:"http"`

	// Location is Timezone, resolved by Validate.
	Location *time.Location `yaml:"-"`
}

type DB struct {
	Driver          string   `yaml:"driver"`
	DSN             string   `yaml:"dsn"`
	MaxOpenConns    int      `yaml:"max_open_conns"`
	ConnMaxLifetime Duration `yaml:"conn_max_lifetime"`
	// cluster (issue 9)
	SyncWait     string   `yaml:"sync_wait"`      // auto | off | 0-15: wsrep_sync_wait on a Galera node
	TxAttempts   int      `yaml:"tx_attempts"`    // tries of a transaction that loses conflicts
	TxBackoff    Duration `yaml:"tx_backoff"`     // first wait between tries, doubled, jittered
	TxBackoffMax Duration `yaml:"tx_backoff_max"` // cap of one wait
	ReadyTimeout Duration `yaml:"ready_timeout"`  // each /readyz probe
}

type SMTP struct {
	Host     string   `yaml:"host"`
	Port     int      `yaml:"port"`
	Username string   `yaml:"username"`
	Password string   `yaml:"password"`
	From     string   `yaml:"from"`
	TLS      string   `yaml:"tls"`
	Timeout  Duration `yaml:"timeout"`
	Lease    Duration `yaml:"lease"` // how long a deliverer holds the messages it claimed
}

// Schedule holds the cron specs of the jobs.
type Schedule struct {
	Sweep   string `yaml:"sweep"`
	Deliver string `yaml:"deliver"`
	Digest  string `yaml:"digest"`
	// Uploads: the daily clean-up of staged uploads no form claimed (issue 10)
	Uploads string `yaml:"uploads"`
	// ClaimLease: a job_runs claim still running after this is taken over
	// (its replica died); it must exceed the longest job.
	ClaimLease Duration `yaml:"claim_lease"`
}

type Rules struct {
	GraceDays           int   `yaml:"grace_days"`
	ReminderDays        []int `yaml:"reminder_days"`
	ConfirmReminderDays []int `yaml:"confirm_reminder_days"`
	ConfirmEscalateDays int   `yaml:"confirm_escalate_days"`
}

// HTTP tunes the server for slow networks (issue 10).
type HTTP struct {
	// UploadIdle: an upload (evidence, documents, rectification files, a
	// workbook) is not bounded by request_timeout; it fails only when the
	// client sends nothing for this long, or passes the size limit.
	UploadIdle Duration `yaml:"upload_idle"`
}

type Evidence struct {
	MaxBytes int64 `yaml:"max_bytes"`
	// SchoolQuotaBytes bounds the evidence stored per school (0: none).
	SchoolQuotaBytes int64 `yaml:"school_quota_bytes"`
}

// Accounts are the rules of sign-in, sessions and account links (issue 8).
type Accounts struct {
	SessionIdle         Duration `yaml:"session_idle"`
	InviteTTL           Duration `yaml:"invite_ttl"`
	ResetTTL            Duration `yaml:"reset_ttl"`
	LockoutFailures     int      `yaml:"lockout_failures"`
	LockoutWindow       Duration `yaml:"lockout_window"`
	IPFailuresPerMinute int      `yaml:"ip_failures_per_minute"`
	// argon2id cost of new password hashes (KiB, passes, lanes)
	Argon2Memory  uint32 `yaml:"argon2_memory"`
	Argon2Time    uint32 `yaml:"argon2_time"`
	Argon2Threads uint8  `yaml:"argon2_threads"`
}

// PublicSecretKeys are the secret keys printed in this repository's own
// examples (docker-compose.yml, config/example.yaml, README): anyone can
// read them, so anyone could forge tokens signed with them.
var PublicSecretKeys = []string{
	"change-me-compose-secret-at-least-32-chars",
	"change-me-to-32-or-more-random-characters",
}

// Import limits the workbook import (internal/importer).
type Import struct {
	MaxBytes int64    `yaml:"max_bytes"` // the uploaded workbook (413 above)
	Timeout  Duration `yaml:"timeout"`   // a province's workbook takes longer than request_timeout
}

// Channels configure the DingTalk and WeCom group robots (issue 11).
type Channels struct {
	// AllowHosts may receive robot posts besides the vendors' own hosts
	// (oapi.dingtalk.com, qyapi.weixin.qq.com): host names or IPs, no port.
	AllowHosts []string `yaml:"allow_hosts"`
	// PerMinute is each robot's rate (the vendors allow 20 a minute).
	PerMinute int      `yaml:"per_minute"`
	Timeout   Duration `yaml:"timeout"`
}

// Duration reads "30s", "12h" from YAML and the environment.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("must be a duration such as 30s or 12h")
	}
	d.Duration = v
	return nil
}

func (d *Duration) UnmarshalYAML(n *yaml.Node) error { return d.UnmarshalText([]byte(n.Value)) }

// EnvPrefix prefixes every environment variable.
const EnvPrefix = "TWINNING_"

// Load reads defaults, then file (when not empty; otherwise
// config/twinning.yaml if it exists), then env, and validates.
// env is passed in (os.Environ() in main) so tests need not touch the process.
func Load(file string, env []string) (*Config, error) {
	var c Config
	if err := decodeYAML(defaults.Default(), &c, "built-in defaults"); err != nil {
		return nil, err
	}
	if file == "" {
		if _, err := os.Stat(filepath.Join("config", "twinning.yaml")); err == nil {
			file = filepath.Join("config", "twinning.yaml")
		}
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := decodeYAML(b, &c, file); err != nil {
			return nil, err
		}
	}
	if err := applyEnv(reflect.ValueOf(&c).Elem(), EnvPrefix, lookup(env)); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func decodeYAML(b []byte, c *Config, source string) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)                                            // a misspelt key is an error, not a silent default
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) { // an empty file is fine
		return fmt.Errorf("config %s: %w", source, err)
	}
	return nil
}

func lookup(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// applyEnv walks the struct by its yaml tags: smtp.host ← TWINNING_SMTP_HOST.
func applyEnv(v reflect.Value, prefix string, env map[string]string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + strings.ToUpper(tag)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && !fv.Addr().Type().Implements(textUnmarshaler) {
			if err := applyEnv(fv, name+"_", env); err != nil {
				return err
			}
			continue
		}
		raw, ok := env[name]
		if !ok {
			continue
		}
		if err := setField(fv, raw); err != nil {
			return fmt.Errorf("config: environment %s=%q: %v", name, raw, err)
		}
	}
	return nil
}

func setField(fv reflect.Value, raw string) error {
	if fv.Addr().Type().Implements(textUnmarshaler) {
		return fv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(raw))
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return fmt.Errorf("must be a whole number")
		}
		fv.SetInt(n)
	case reflect.Slice:
		parts := splitList(raw)
		s := reflect.MakeSlice(fv.Type(), len(parts), len(parts))
		for i, p := range parts {
			if err := setField(s.Index(i), p); err != nil {
				return err
			}
		}
		fv.Set(s)
	default:
		return fmt.Errorf("unsupported kind %s", fv.Kind())
	}
	return nil
}

func splitList(raw string) []string {
	var out []string
	for _, p := range strings.Split(raw, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Validate checks every value and resolves derived ones. Its errors name the
// key as written in YAML.
func (c *Config) Validate() error {
	bad := func(key, msg string) error { return fmt.Errorf("config: %s: %s", key, msg) }
	if c.HTTPAddr == "" {
		return bad("http_addr", "must not be empty")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return bad("http_addr", "must be host:port, e.g. :8080")
	}
	if !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		return bad("base_url", "must start with http:// or https://")
	}
	if c.DataDir == "" {
		return bad("data_dir", "must not be empty")
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil || c.Timezone == "" {
		return bad("timezone", fmt.Sprintf("unknown time zone %q", c.Timezone))
	}
	c.Location = loc
	if c.SecretKey != "" && len(c.SecretKey) < 32 {
		return bad("secret_key", "must be at least 32 characters")
	}
	for _, k := range PublicSecretKeys {
		if c.SecretKey == k || strings.HasPrefix(strings.ToLower(c.SecretKey), "change-me") {
			return bad("secret_key", "is an example key published in the repository; generate one, e.g. openssl rand -hex 32")
		}
	}
	if c.Accounts.SessionIdle.Duration < 0 || c.Accounts.InviteTTL.Duration <= 0 || c.Accounts.ResetTTL.Duration <= 0 || c.Accounts.LockoutWindow.Duration <= 0 {
		return bad("accounts", "session_idle must be ≥ 0; invite_ttl, reset_ttl and lockout_window positive")
	}
	if c.Accounts.LockoutFailures < 1 || c.Accounts.IPFailuresPerMinute < 1 {
		return bad("accounts", "lockout_failures and ip_failures_per_minute must be at least 1")
	}
	if c.Accounts.Argon2Memory < 8 || c.Accounts.Argon2Time < 1 || c.Accounts.Argon2Threads < 1 {
		return bad("accounts.argon2_memory", "argon2 memory ≥ 8 KiB, time and threads ≥ 1")
	}
	if c.Evidence.SchoolQuotaBytes < 0 {
		return bad("evidence.school_quota_bytes", "must be 0 (no quota) or positive")
	}
	if c.TokenTTL.Duration <= 0 {
		return bad("token_ttl", "must be positive")
	}
	if c.RequestTimeout.Duration <= 0 {
		return bad("request_timeout", "must be positive")
	}
	if c.HTTP.UploadIdle.Duration <= 0 {
		return bad("http.upload_idle", "must be positive")
	}
	if _, err := ParseBytes(c.BodyLimit); err != nil {
		return bad("body_limit", err.Error())
	}
	for _, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil {
			return bad("trusted_proxies", fmt.Sprintf("%q is not a CIDR such as 10.0.0.0/8", p))
		}
	}
	for _, h := range c.Channels.AllowHosts {
		if h == "" || strings.ContainsAny(h, ":/@ ") && net.ParseIP(h) == nil {
			return bad("channels.allow_hosts", fmt.Sprintf("%q must be a host name or IP address without scheme or port", h))
		}
	}
	if c.Channels.PerMinute < 1 || c.Channels.PerMinute > 100 {
		return bad("channels.per_minute", "must be between 1 and 100")
	}
	if c.Channels.Timeout.Duration <= 0 {
		return bad("channels.timeout", "must be positive")
	}
	switch c.DB.Driver {
	case "sqlite":
	case "mysql":
		if c.DB.DSN == "" {
			return bad("db.dsn", "is required when db.driver is mysql")
		}
		if c.SecretKey == "" {
			return bad("secret_key", "is required with mysql: every replica must verify the same tokens")
		}
	default:
		return bad("db.driver", "must be sqlite or mysql")
	}
	if c.DB.MaxOpenConns < 1 {
		return bad("db.max_open_conns", "must be at least 1")
	}
	if d := c.DB.ConnMaxLifetime.Duration; d <= 0 || d >= 5*time.Minute {
		return bad("db.conn_max_lifetime", "must be positive and under 5m")
	}
	switch strings.ToLower(c.DB.SyncWait) {
	case "", "auto", "on", "off":
	default:
		if n, err := strconv.Atoi(c.DB.SyncWait); err != nil || n < 0 || n > 15 {
			return bad("db.sync_wait", "must be auto, off or a number 0-15")
		}
	}
	if c.DB.TxAttempts < 1 || c.DB.TxAttempts > 50 {
		return bad("db.tx_attempts", "must be between 1 and 50")
	}
	if c.DB.TxBackoff.Duration <= 0 || c.DB.TxBackoffMax.Duration < c.DB.TxBackoff.Duration {
		return bad("db.tx_backoff", "must be positive and at most db.tx_backoff_max")
	}
	if c.DB.ReadyTimeout.Duration <= 0 {
		return bad("db.ready_timeout", "must be positive")
	}
	if c.Schedule.ClaimLease.Duration < time.Minute {
		return bad("schedule.claim_lease", "must be at least 1m (longer than the longest job)")
	}
	if c.SMTP.Lease.Duration < 10*time.Second {
		return bad("smtp.lease", "must be at least 10s")
	}
	switch c.SMTP.TLS {
	case "none", "starttls", "tls":
	default:
		return bad("smtp.tls", "must be none, starttls or tls")
	}
	if c.SMTP.Host != "" && (c.SMTP.Port < 1 || c.SMTP.Port > 65535) {
		return bad("smtp.port", "must be between 1 and 65535")
	}
	if c.SMTP.Timeout.Duration <= 0 {
		return bad("smtp.timeout", "must be positive")
	}
	for key, spec := range map[string]string{"schedule.sweep": c.Schedule.Sweep, "schedule.deliver": c.Schedule.Deliver, "schedule.digest": c.Schedule.Digest,
		"schedule.uploads": c.Schedule.Uploads} {
		if _, err := cron.ParseStandard(spec); err != nil {
			return bad(key, fmt.Sprintf("%q is not a cron schedule such as \"0 8 * * *\"", spec))
		}
	}
	if _, err := mail.ParseAddress(c.SMTP.From); err != nil {
		return bad("smtp.from", "must be an address such as 平台 <noreply@example.cn>")
	}
	if c.Compliance.GraceDays < 0 {
		return bad("compliance.grace_days", "must not be negative")
	}
	for key, days := range map[string][]int{"compliance.reminder_days": c.Compliance.ReminderDays, "compliance.confirm_reminder_days": c.Compliance.ConfirmReminderDays} {
		for _, d := range days {
			if d < 0 {
				return bad(key, "must not contain negative numbers")
			}
		}
	}
	if c.Compliance.ConfirmEscalateDays < 1 {
		return bad("compliance.confirm_escalate_days", "must be at least 1")
	}
	if c.Evidence.MaxBytes < 1 {
		return bad("evidence.max_bytes", "must be positive")
	}
	if c.Import.MaxBytes < 1 {
		return bad("import.max_bytes", "must be positive")
	}
	if c.Import.Timeout.Duration <= 0 {
		return bad("import.timeout", "must be positive")
	}
	return nil
}

// ParseBytes reads sizes such as 512K, 1M, 10M or a plain number of bytes.
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("must be a size such as 512K or 1M")
	}
	return n * mult, nil
}
