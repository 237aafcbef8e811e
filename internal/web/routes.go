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

	// probes (cluster): liveness without the database, readiness on the
	// database's own probe connection
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{})))

	api := e.Group("/api/v1")
	api.POST("/auth/login", s.login, small)
	api.POST("/auth/forgot", s.forgot, small) // accounts: no session needed
	api.POST("/auth/reset", s.reset, small)

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
	// accounts (issue 8): one account's page, partial edit, re-invitation;
	// sign-out, own password and profile
	v.GET("/users/:id", s.getUser)
	v.PATCH("/users/:id", s.updateUser, small)
	v.POST("/users/:id/invite", s.inviteUser, small)
	v.POST("/auth/logout", s.logout, small)
	v.POST("/auth/password", s.changePassword, small)
	v.PATCH("/me", s.updateMe, small)

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
	// phone (issue 10): where an activity would count, before it is logged
	v.GET("/pairs/:id/accounting", s.previewAccounting)
	v.GET("/me/notifications", s.myNotifications)
	v.POST("/me/notifications/seen", s.notificationsSeen, small)

	v.GET("/activities", s.listActivities)
	v.GET("/activities/:id", s.getActivity)
	v.PATCH("/activities/:id", s.amendActivity, small)
	v.POST("/activities/:id/confirm", s.confirmActivity, small)
	v.POST("/activities/:id/dispute", s.disputeActivity, small)
	v.POST("/activities/:id/withdraw", s.withdrawActivity, small)
	s.uploadRoute(v.POST("/activities/:id/evidence", s.addEvidence, upload))
	v.GET("/evidence/:id", s.getEvidence)
	// phone (issue 10): staged uploads, claimed by the activity forms
	s.uploadRoute(v.POST("/uploads", s.stageUpload, upload))
	v.GET("/uploads/:id", s.getUpload)
	v.DELETE("/uploads/:id", s.deleteUpload)

	// lifecycle: corrections, retirements, attachments (api_lifecycle.go)
	v.PATCH("/regions/:id", s.updateRegion, small)
	v.GET("/terms/:id", s.getTerm)
	v.PATCH("/terms/:id", s.updateTerm, small)
	v.DELETE("/terms/:id", s.deleteTerm)
	v.GET("/agreements/:id", s.getAgreement)
	v.PATCH("/agreements/:id", s.updateAgreement, small)
	v.POST("/agreements/:id/commitments", s.addCommitment, small)
	s.uploadRoute(v.POST("/agreements/:id/documents", s.addDocument, upload))
	v.GET("/documents/:id", s.getDocument)
	v.PATCH("/commitments/:id", s.updateCommitment, small)
	v.DELETE("/evidence/:id", s.removeEvidence)

	v.GET("/compliance", s.compliance)
	v.GET("/compliance/export.xlsx", s.exportXLSX)
	v.GET("/compliance/export.csv", s.exportCSV)
	v.GET("/audit", s.auditLog)
	v.GET("/notices", s.listNotices)
	v.GET("/breaches", s.listBreaches)
	v.GET("/outbox", s.listOutbox)
	v.POST("/outbox/:id/retry", s.retryOutbox)

	// The onboarding workbook (api_import.go): template, check/import, the
	// annotated copy, and the scope's export in the same shape.
	importBody := middleware.BodyLimit(byteSize(s.ImportLimit + 64<<10))
	v.GET("/import/template.xlsx", s.importTemplate)
	s.uploadRoute(v.POST("/import", s.importWorkbook, importBody))
	s.uploadRoute(v.POST("/import/annotated.xlsx", s.importAnnotated, importBody))
	v.GET("/export.xlsx", s.exportWorkbook)
	// bureau instruments (issue 11): robots, circulars, rectifications, assessments
	v.GET("/regions/:id/robots", s.listRobots)
	v.POST("/regions/:id/robots", s.createRobot, small)
	v.DELETE("/robots/:id", s.deleteRobot)
	v.GET("/circulars", s.listCirculars)
	v.POST("/circulars", s.draftCircular, small)
	v.GET("/circulars/:id", s.getCircular)
	v.PATCH("/circulars/:id", s.patchCircular, small)
	v.POST("/circulars/:id/publish", s.publishCircular, small)
	v.GET("/circulars/:id/document.docx", s.circularDocx)
	v.GET("/rectifications", s.listRectifications)
	v.GET("/rectifications/:id", s.getRectification)
	v.POST("/rectifications/:id/acknowledge", s.acknowledgeRectification, small)
	v.POST("/rectifications/:id/submit", s.submitRectification, small)
	s.uploadRoute(v.POST("/rectifications/:id/files", s.addRectificationFile, upload))
	v.POST("/rectifications/:id/accept", s.acceptRectification, small)
	v.POST("/rectifications/:id/return", s.returnRectification, small)
	v.GET("/rectification-files/:id", s.getRectificationFile)
	v.GET("/assessments", s.listAssessments)
	v.GET("/assessments/export.xlsx", s.exportAssessment)
	v.GET("/regions/:id/assessment-settings", s.getAssessmentSettings)
	v.PUT("/regions/:id/assessment-settings", s.putAssessmentSettings, small)

	// Web pages: a session cookie (the same signed token) instead of a
	// bearer token, a CSRF token on every form, gzip, HTML errors. The
	// group has no middleware of its own (that would catch every unknown
	// path, the API's too); each route lists its chain.
	gz := middleware.GzipWithConfig(middleware.GzipConfig{Level: 5, MinLength: 512})
	csrf := s.csrf()
	open := []echo.MiddlewareFunc{gz, s.pageSession, small, csrf}
	in := []echo.MiddlewareFunc{gz, s.pageSession, small, csrf, s.signedIn}
	uploadIn := []echo.MiddlewareFunc{gz, s.pageSession, upload, csrf, s.signedIn}
	// the activity forms take several photos (phone, issue 10)
	activityIn := []echo.MiddlewareFunc{gz, s.pageSession, middleware.BodyLimit(byteSize(maxFormFiles*s.EvidenceLimit + 64<<10)), csrf, s.signedIn}
	files := []echo.MiddlewareFunc{s.pageSession, s.signedIn} // evidence and downloads: no CSRF token to mint, no gzip
	pg := e.Group("")

	e.GET("/static/*", s.static, gz)
	// the installable app (issue 10, pwa.go): manifest and service worker
	e.GET("/manifest.webmanifest", s.manifest, gz)
	e.GET("/sw.js", s.serviceWorker, gz)
	pg.GET("/login", s.loginPage, open...)
	pg.POST("/login", s.loginSubmit, open...)
	pg.POST("/logout", s.logoutSubmit, open...)
	pg.POST("/lang", s.langSubmit, open...)
	// accounts (issue 8): forgotten password, one-time links, own account
	pg.GET("/forgot", s.forgotPage, open...)
	pg.POST("/forgot", s.forgotSubmit, open...)
	pg.GET("/reset", s.resetPage, open...)
	pg.POST("/reset", s.resetSubmit, open...)
	pg.GET("/account", s.accountPage, in...)
	pg.POST("/account", s.accountSubmit, in...)
	pg.POST("/account/password", s.accountPassword, in...)

	pg.GET("/", s.home, in...)
	pg.GET("/activities/new", s.logForm, in...)
	pg.GET("/activities/accounting", s.accountingFragment, in...) // phone (issue 10): the log form's late-logging note
	pg.GET("/notifications", s.notificationsPage, in...)          // phone (issue 10): the bell's list
	s.uploadRoute(pg.POST("/activities/new", s.logSubmit, activityIn...))
	// the installable app (issue 10, pwa.go): what the phone kept offline,
	// with its photos; JSON answers, the log form's checks
	s.uploadRoute(pg.POST("/activities/queued", s.queuedSubmit, activityIn...))
	pg.GET("/activities/:id", s.activityPage, in...)
	// the upload widget's twins of /api/v1/uploads (api_uploads.go)
	s.uploadRoute(pg.POST("/uploads", s.stageUpload, []echo.MiddlewareFunc{s.pageSession, upload, csrf, s.signedIn}...))
	pg.POST("/uploads/:id/delete", s.deleteUpload, in...)
	pg.GET("/activities/:id/edit", s.amendForm, in...)
	s.uploadRoute(pg.POST("/activities/:id/edit", s.amendSubmit, activityIn...))
	pg.POST("/activities/:id/withdraw", s.withdrawSubmit, in...)
	pg.POST("/activities/:id/confirm", s.confirmSubmit, in...)
	pg.POST("/activities/:id/dispute", s.disputeSubmit, in...)
	pg.GET("/inbox", s.inboxPage, in...)
	pg.GET("/history", s.historyPage, in...)
	pg.GET("/pairs/:id", s.pairPage, in...)
	pg.GET("/evidence/:id", s.getEvidence, files...)
	pg.GET("/evidence/:id/thumb", s.evidenceThumb, files...)
	pg.GET("/evidence/:id/view", s.evidenceView, files...) // phone (issue 10): 1280 px rendition
	pg.GET("/dashboard", s.dashboardPage, in...)
	pg.GET("/dashboard/trend", s.dashboardTrend, in...)
	pg.GET("/dashboard/export.xlsx", s.exportXLSX, files...) // export.go, as GET /api/v1/compliance/export.*
	pg.GET("/dashboard/export.csv", s.exportCSV, files...)

	pg.GET("/admin", s.adminPage, in...)
	pg.GET("/admin/schools", s.adminSchools, in...)
	pg.POST("/admin/schools", s.adminSchoolCreate, in...)
	pg.GET("/admin/pairs", s.adminPairs, in...)
	pg.POST("/admin/pairs", s.adminPairCreate, in...)
	pg.GET("/admin/pairs/:id/agreements", s.adminAgreements, in...)
	pg.POST("/admin/pairs/:id/agreements", s.adminAgreementCreate, in...)
	pg.GET("/admin/users", s.adminUsers, in...)
	pg.POST("/admin/users", s.adminUserCreate, in...)
	// accounts (issue 8): one account: edit, switch off/on, re-invite
	pg.GET("/admin/users/:id", s.adminUser, in...)
	pg.POST("/admin/users/:id", s.adminUserUpdate, in...)
	pg.POST("/admin/users/:id/active", s.adminUserActive, in...)
	pg.POST("/admin/users/:id/invite", s.adminUserInvite, in...)
	pg.GET("/admin/terms", s.adminTerms, in...)
	pg.POST("/admin/terms", s.adminTermCreate, in...)
	pg.GET("/admin/outbox", s.adminOutbox, in...)
	pg.POST("/admin/outbox/:id/retry", s.adminOutboxRetry, in...)

	// The import page (page_import.go); the downloads are the API's handlers.
	importIn := []echo.MiddlewareFunc{gz, s.pageSession, importBody, csrf, s.signedIn}
	pg.GET("/admin/import", s.importPage, in...)
	s.uploadRoute(pg.POST("/admin/import", s.importSubmit, importIn...))
	pg.POST("/admin/import/annotated.xlsx", s.importAnnotated, []echo.MiddlewareFunc{s.pageSession, importBody, csrf, s.signedIn}...)
	pg.GET("/admin/import/template.xlsx", s.importTemplate, files...)
	pg.GET("/admin/export.xlsx", s.exportWorkbook, files...)
	// lifecycle: the region tree, term corrections, the pair page's
	// management forms, evidence removal (page_lifecycle.go)
	pg.GET("/admin/regions", s.adminRegions, in...)
	pg.POST("/admin/regions", s.adminRegionCreate, in...)
	pg.POST("/admin/regions/:id", s.adminRegionUpdate, in...)
	pg.POST("/admin/terms/defaults", s.adminTermDefaults, in...)
	pg.POST("/admin/terms/:id", s.adminTermUpdate, in...)
	pg.POST("/admin/terms/:id/delete", s.adminTermDelete, in...)
	pg.POST("/pairs/:id/status", s.pairStatusSubmit, in...)
	pg.POST("/agreements/:id/edit", s.agreementEditSubmit, in...)
	pg.POST("/agreements/:id/commitments", s.commitmentAddSubmit, in...)
	s.uploadRoute(pg.POST("/agreements/:id/documents", s.documentSubmit, uploadIn...))
	pg.GET("/documents/:id", s.getDocument, files...)
	pg.POST("/commitments/:id/retire", s.commitmentRetireSubmit, in...)
	pg.POST("/evidence/:id/delete", s.evidenceRemoveSubmit, in...)
	pg.GET("/admin/pick/schools", s.pickSchools, in...)
	pg.GET("/setup", s.setupPage, in...)
	pg.GET("/school", s.schoolPage, in...) // page_school.go: all of a school's pairs (一对多)
	// bureau instruments (issue 11): circulars, rectification, assessments, robots
	pg.GET("/circulars", s.circularsPage, in...)
	pg.POST("/circulars", s.circularDraftSubmit, in...)
	pg.GET("/circulars/:id", s.circularPage, in...)
	pg.POST("/circulars/:id", s.circularEditSubmit, in...)
	pg.GET("/circulars/:id/print", s.circularPrint, in...)
	pg.GET("/circulars/:id/document.docx", s.circularDocx, files...)
	pg.GET("/rectifications", s.rectificationsPage, in...)
	pg.GET("/rectifications/:id", s.rectificationPage, in...)
	s.uploadRoute(pg.POST("/rectifications/:id/files", s.rectificationAction, uploadIn...))
	pg.POST("/rectifications/:id/:action", s.rectificationAction, in...)
	pg.GET("/rectification-files/:id", s.rectificationFile, files...)
	pg.GET("/assessments", s.assessmentsPage, in...)
	pg.GET("/assessments/export.xlsx", s.exportAssessment, files...)
	pg.GET("/robots", s.robotsPage, in...)
	pg.POST("/robots", s.robotCreateSubmit, in...)
	pg.POST("/robots/:id/delete", s.robotDeleteSubmit, in...)
}

// byteSize writes a byte count the way Echo's BodyLimit reads it.
func byteSize(n int64) string { return strconv.FormatInt(n, 10) + "B" }
