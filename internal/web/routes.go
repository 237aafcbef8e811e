package web

import (
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/labstack/echo/v4/middleware"

	"github.com/twinning-platform/twinning/internal/config"
)

// routes is the one route table of the service.
func (s *Server) routes() {
	e := s.echo
	jsonLimit, err := config.ParseBytes(s.BodyLimit)
	if err != nil {
		jsonLimit = 1 << 20
	}
	small := middleware.BodyLimit(byteSize(jsonLimit))
	// multipart overhead on top of one file
	upload := middleware.BodyLimit(byteSize(s.EvidenceLimit + 64<<10))

	e.GET("/healthz", s.healthz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{})))

	api := e.Group("/api/v1")
	api.POST("/auth/login", s.login, small)

	v := api.Group("", s.authenticated)
	v.GET("/me", s.me)
	v.GET("/categories", s.categories)

	v.GET("/regions", s.listRegions)
	v.POST("/regions", s.createRegion, small)
	v.GET("/regions/:id", s.getRegion)

	v.GET("/schools", s.listSchools)
	v.POST("/schools", s.createSchool, small)
	v.GET("/schools/:id", s.getSchool)
	v.PATCH("/schools/:id", s.updateSchool, small)

	v.GET("/users", s.listUsers)
	v.POST("/users", s.createUser, small)

	v.GET("/terms", s.listTerms)
	v.POST("/terms", s.createTerm, small)

	v.GET("/pairs", s.listPairs)
	v.POST("/pairs", s.createPair, small)
	v.GET("/pairs/:id", s.getPair)
	v.PATCH("/pairs/:id", s.updatePair, small)
	v.GET("/pairs/:id/agreements", s.listAgreements)
	v.POST("/pairs/:id/agreements", s.createAgreement, small)
	v.GET("/pairs/:id/activities", s.listPairActivities)
	v.POST("/pairs/:id/activities", s.logActivity, small)
	v.POST("/pairs/:id/activities/import", s.importActivity, small)
	v.GET("/pairs/:id/compliance", s.pairCompliance)

	v.GET("/activities", s.listActivities)
	v.GET("/activities/:id", s.getActivity)
	v.PATCH("/activities/:id", s.amendActivity, small)
	v.POST("/activities/:id/confirm", s.confirmActivity, small)
	v.POST("/activities/:id/dispute", s.disputeActivity, small)
	v.POST("/activities/:id/withdraw", s.withdrawActivity, small)
	v.POST("/activities/:id/evidence", s.addEvidence, upload)
	v.GET("/evidence/:id", s.getEvidence)

	v.GET("/compliance", s.compliance)
	v.GET("/audit", s.auditLog)
	v.GET("/notices", s.listNotices)
	v.GET("/breaches", s.listBreaches)
	v.GET("/outbox", s.listOutbox)
	v.POST("/outbox/:id/retry", s.retryOutbox)
}

// byteSize writes a byte count the way Echo's BodyLimit reads it.
func byteSize(n int64) string { return strconv.FormatInt(n, 10) + "B" }
