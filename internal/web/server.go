// Package web is the HTTP face of the service: Echo setup, middleware, the
// one route table, error mapping and the handlers. It translates between
// HTTP and the domain services; no domain rule lives here.
package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/twinning-platform/twinning/internal/activity"
	"github.com/twinning-platform/twinning/internal/assessment"
	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/channel"
	"github.com/twinning-platform/twinning/internal/circular"
	"github.com/twinning-platform/twinning/internal/compliance"
	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/importer"
	"github.com/twinning-platform/twinning/internal/mail"
	"github.com/twinning-platform/twinning/internal/notify"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/school"
	"github.com/twinning-platform/twinning/internal/validation"
	"github.com/twinning-platform/twinning/internal/view"
)

// Deps are the services the handlers call.
type Deps struct {
	DB          *database.DB
	Auth        *auth.Service
	Schools     *school.Service
	Terms       *calendar.Service
	Pairs       *pairing.Service
	Activities  *activity.Service
	Compliance  *compliance.Reader
	Notices     *notify.Lister
	Outbox      *mail.Outbox
	Importer    *importer.Importer // the onboarding workbook
	Channels    *channel.Service   // group robots (issue 11)
	Circulars   *circular.Service
	Assessments *assessment.Service
	// Documents are the signed agreements' files (lifecycle).
	Documents *pairing.Documents
	// MailStatus says where mail goes, for the setup checklist: the SMTP
	// server, or "" when messages are written as .eml files (MailDir).
	MailStatus MailStatus
	// Views renders the web pages (templates/ with the i18n catalogue).
	Views     *view.Renderer
	Metrics   *prometheus.Registry
	Validator *validation.Validator
	Log       *slog.Logger
	Location  *time.Location
	Now       func() time.Time

	RequestTimeout  time.Duration
	UploadIdle      time.Duration // an upload fails after this long without a byte (uploads.go)
	BodyLimit       string        // e.g. "1M"
	EvidenceLimit   int64         // bytes per file
	ImportLimit     int64         // bytes per uploaded workbook
	ImportTimeout   time.Duration // checking and importing one workbook
	TrustedProxies  []string
	SecureTransport bool // HSTS and Secure cookies when served over TLS (base_url https://)
	// DashboardFullScope is the most pairs a dashboard grades one by one;
	// a larger scope reads the status read model (0: 300; -1: never;
	// tests set it low to take the large-scope path)
	DashboardFullScope int
}

// Server holds the Echo instance and the dependencies of the handlers.
type Server struct {
	Deps
	echo *echo.Echo
	log  *slog.Logger
	// uploads are the routes ("METHOD /path") bounded by UploadIdle
	// instead of RequestTimeout; set by routes(), read-only afterwards.
	uploads map[string]bool
}

// echoValidator adapts the shared validator to Echo's interface.
type echoValidator struct{ v *validation.Validator }

func (e echoValidator) Validate(i any) error { return e.v.Validate(i) }

// New builds the Echo server with middleware and routes.
func New(d Deps) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{Deps: d, echo: e, log: d.Log, uploads: map[string]bool{}}
	e.HTTPErrorHandler = s.errorHandler
	e.Validator = echoValidator{d.Validator}
	e.JSONSerializer = strictJSON{}
	e.IPExtractor = ipExtractor(d.TrustedProxies)

	e.Use(safeRequestID)
	e.Use(middleware.RequestID())
	e.Use(middleware.Recover())
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURI: true, LogMethod: true, LogLatency: true, LogRequestID: true, LogError: true, HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			s.log.Log(c.Request().Context(), level, "http", "method", v.Method, "uri", v.URI, "status", v.Status,
				"latency_ms", v.Latency.Milliseconds(), "request_id", v.RequestID, "ip", c.RealIP())
			return nil
		},
	}))
	hsts := 0
	if d.SecureTransport {
		hsts = 31536000
	}
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection: "0", ContentTypeNosniff: "nosniff", XFrameOptions: "DENY", HSTSMaxAge: hsts,
		ReferrerPolicy:        "same-origin",
		ContentSecurityPolicy: "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
	}))
	e.Use(middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: d.RequestTimeout, Skipper: s.isUpload}))
	e.Use(s.connDeadlines)
	e.Use(s.requestContext)
	s.routes()
	return s
}

// requestIDRE is what a client's X-Request-ID must look like to be kept
// (it goes into logs and the audit log's 64-character column).
var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// safeRequestID drops a client's X-Request-ID that is long or carries
// anything but a short safe id; Echo's RequestID then generates one.
func safeRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if id := h.Get(echo.HeaderXRequestID); id != "" && !requestIDRE.MatchString(id) {
			h.Del(echo.HeaderXRequestID)
		}
		return next(c)
	}
}

// Handler is the http.Handler, for the server and for tests.
func (s *Server) Handler() http.Handler { return s.echo }

// Start serves on addr until ctx is cancelled, then drains requests for up
// to 15 s.
func (s *Server) Start(ctx context.Context, addr string) error {
	// no server-wide read/write timeout: connDeadlines sets them per
	// request, so an upload on a slow uplink is bounded by its idle time
	// rather than its length
	srv := &http.Server{Addr: addr, Handler: s.echo, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// ipExtractor believes X-Forwarded-For only from the configured proxies;
// without any, the peer address is the client.
func ipExtractor(cidrs []string) echo.IPExtractor {
	if len(cidrs) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, c := range cidrs {
		if _, n, err := net.ParseCIDR(c); err == nil {
			opts = append(opts, echo.TrustIPRange(n))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// requestContext carries the request id and client address into the
// context so services can audit without knowing HTTP.
func (s *Server) requestContext(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Response().Header().Get(echo.HeaderXRequestID)
		ctx := audit.WithRequest(c.Request().Context(), id, c.RealIP())
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

const actorKey = "actor"

// authenticated requires a valid bearer token.
func (s *Server) authenticated(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="twinning"`)
			return errs.Unauthorized("send Authorization: Bearer <token> (from POST /api/v1/auth/login)")
		}
		a, err := s.Auth.Authenticate(c.Request().Context(), strings.TrimSpace(token))
		if err != nil {
			return err
		}
		c.Set(actorKey, a)
		return next(c)
	}
}

func actor(c echo.Context) auth.Actor {
	a, _ := c.Get(actorKey).(auth.Actor)
	return a
}
