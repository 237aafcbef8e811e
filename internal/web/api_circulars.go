package web

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/circular"
)

// Circulars (通报) and rectifications (整改), issue 11.

func (s *Server) listCirculars(c echo.Context) error {
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	out, err := s.Circulars.List(c.Request().Context(), actor(c), circular.Filter{Status: c.QueryParam("status"), PeriodKey: c.QueryParam("period_key")}, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) draftCircular(c echo.Context) error {
	var in circular.DraftInput
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := s.Circulars.Draft(c.Request().Context(), actor(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) getCircular(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	out, err := s.Circulars.Get(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) patchCircular(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in circular.Patch
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := s.Circulars.Update(c.Request().Context(), actor(c), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) publishCircular(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	out, err := s.Circulars.Publish(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) circularDocx(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	circ, err := s.Circulars.Get(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := circular.Docx(&buf, circ); err != nil {
		return err
	}
	name := fmt.Sprintf("通报-%d.docx", circ.ID)
	if circ.Number != "" {
		name = circ.Number + ".docx"
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentDisposition, "attachment; filename=\"circular.docx\"; filename*=UTF-8''"+url.PathEscape(name))
	return c.Blob(http.StatusOK, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", buf.Bytes())
}

func (s *Server) listRectifications(c echo.Context) error {
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	cid, err := queryInt(c, "circular_id")
	if err != nil {
		return err
	}
	open, err := queryBool(c, "open")
	if err != nil {
		return err
	}
	out, err := s.Circulars.ListRectifications(c.Request().Context(), actor(c), circular.RectFilter{CircularID: cid, Status: c.QueryParam("status"), Open: open}, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getRectification(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	out, err := s.Circulars.GetRectification(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) acknowledgeRectification(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	out, err := s.Circulars.Acknowledge(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) acceptRectification(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	out, err := s.Circulars.Accept(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) submitRectification(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in struct {
		Report string `json:"report"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := s.Circulars.Submit(c.Request().Context(), actor(c), id, in.Report)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) returnRectification(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := s.Circulars.Return(c.Request().Context(), actor(c), id, in.Reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) addRectificationFile(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	fh, f, err := s.uploaded(c)
	if err != nil {
		return err
	}
	defer f.Close()
	out, err := s.Circulars.AddFile(c.Request().Context(), actor(c), id, fh.Filename, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) getRectificationFile(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	f, rc, err := s.Circulars.OpenFile(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	defer rc.Close()
	return serveStored(c, f.ContentType, f.FileName, "file", rc)
}
