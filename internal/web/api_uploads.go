package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/activity"
)

// Staged uploads (issue 10): a file is uploaded as soon as it is chosen and
// the log or amend form claims it by its token (upload_ids / upload_id).
// The page routes (/uploads) are the same handlers behind the session
// cookie and the CSRF token; they answer JSON too (the browser's upload
// widget reads it).

// stagedJSON is the answer's one shape: the token is the upload's id.
type stagedJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
}

func stagedOut(u activity.Upload) stagedJSON {
	return stagedJSON{ID: u.Token, Name: u.FileName, Size: u.Size, ContentType: u.ContentType}
}

func (s *Server) stageUpload(c echo.Context) error {
	err := func() error {
		fh, f, err := s.uploaded(c)
		if err != nil {
			return err
		}
		defer f.Close()
		up, err := s.Activities.Stage(c.Request().Context(), actor(c), fh.Filename, f)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, stagedOut(up))
	}()
	return s.jsonError(c, err)
}

func (s *Server) getUpload(c echo.Context) error {
	up, err := s.Activities.Staged(c.Request().Context(), actor(c), c.Param("id"))
	if err != nil {
		return s.jsonError(c, err)
	}
	return c.JSON(http.StatusOK, stagedOut(up))
}

func (s *Server) deleteUpload(c echo.Context) error {
	if err := s.Activities.Unstage(c.Request().Context(), actor(c), c.Param("id")); err != nil {
		return s.jsonError(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

// jsonError answers a handler's error as the API's JSON even on a page
// route (the upload widget reads the message); nil passes.
func (s *Server) jsonError(c echo.Context, err error) error {
	if err == nil || !isPage(c) || c.Response().Committed {
		return err
	}
	if he, ok := err.(*echo.HTTPError); ok {
		return he // the body limit's 413, a stalled upload's 408: the status says it
	}
	status, body := s.classify(err)
	if status >= 500 {
		return err
	}
	body.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	return c.JSON(status, errorBody{Error: body})
}
