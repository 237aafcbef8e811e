package web

import (
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/page"
)

// bind reads the JSON body (never query or path) into v. Only JSON is
// accepted, so the strict decoder (unknown fields refused) always applies.
func bind(c echo.Context, v any) error {
	ctype := c.Request().Header.Get(echo.HeaderContentType)
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ctype)), echo.MIMEApplicationJSON) {
		return errs.Malformed("", "Content-Type must be application/json")
	}
	return (&echo.DefaultBinder{}).BindBody(c, v)
}

// pathID reads the :id path parameter.
func pathID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.NotFound(c.Param("id"))
	}
	return id, nil
}

// queryInt reads an optional positive integer query parameter.
func queryInt(c echo.Context, name string) (int64, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 {
		return 0, errs.Field(name, "must be a non-negative whole number")
	}
	return n, nil
}

// queryDate reads an optional YYYY-MM-DD query parameter.
func queryDate(c echo.Context, name string) (date.Date, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		return date.Date{}, nil
	}
	d, err := date.Parse(raw)
	if err != nil {
		return d, errs.Field(name, err.Error())
	}
	return d, nil
}

// queryBool reads an optional true/false query parameter.
func queryBool(c echo.Context, name string) (bool, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, errs.Field(name, "must be true or false")
	}
	return b, nil
}

// pageOf reads limit and offset.
func pageOf(c echo.Context) (page.Page, error) {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return page.Page{}, err
	}
	if limit > page.MaxLimit {
		return page.Page{}, errs.Field("limit", "must be at most "+strconv.Itoa(page.MaxLimit))
	}
	offset, err := queryInt(c, "offset")
	if err != nil {
		return page.Page{}, err
	}
	return page.Page{Limit: int(limit), Offset: int(offset)}.Normalize(), nil
}

// today is the programme's current local date.
func (s *Server) today() date.Date { return date.Of(s.Now(), s.Location) }
