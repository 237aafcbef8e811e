package web

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/twinning-platform/twinning/internal/audit"
	"github.com/twinning-platform/twinning/internal/auth"
	"github.com/twinning-platform/twinning/internal/category"
	"github.com/twinning-platform/twinning/internal/errs"
	"github.com/twinning-platform/twinning/internal/pairing"
	"github.com/twinning-platform/twinning/internal/school"
)

func (s *Server) login(c echo.Context) error {
	var in auth.LoginInput
	if err := bind(c, &in); err != nil {
		return err
	}
	in.Kind, in.IP = auth.KindAPI, c.RealIP()
	sess, err := s.Auth.Login(c.Request().Context(), in)
	if err != nil {
		tarpit(c, err)
		return err
	}
	return c.JSON(http.StatusOK, sess)
}

func (s *Server) me(c echo.Context) error {
	u, err := s.Auth.Me(c.Request().Context(), actor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

func (s *Server) categories(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string][]string{"items": category.All()})
}

// create is the common shape of a POST that binds a body and answers 201.
func create[In, Out any](c echo.Context, do func(ctx context.Context, a auth.Actor, in In) (Out, error)) error {
	var in In
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := do(c.Request().Context(), actor(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

// update is the common shape of a PATCH or POST on /:id answering 200.
func update[In, Out any](c echo.Context, do func(ctx context.Context, a auth.Actor, id int64, in In) (Out, error)) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in In
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := do(c.Request().Context(), actor(c), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) createRegion(c echo.Context) error { return create(c, s.Schools.CreateRegion) }

func (s *Server) listRegions(c echo.Context) error {
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	parent, err := queryInt(c, "parent_id")
	if err != nil {
		return err
	}
	out, err := s.Schools.ListRegions(c.Request().Context(), actor(c), school.RegionFilter{ParentID: parent, Level: c.QueryParam("level")}, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getRegion(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	r, err := s.Schools.Region(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

func (s *Server) createSchool(c echo.Context) error { return create(c, s.Schools.CreateSchool) }
func (s *Server) updateSchool(c echo.Context) error { return update(c, s.Schools.UpdateSchool) }

func (s *Server) listSchools(c echo.Context) error {
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	region, err := queryInt(c, "region_id")
	if err != nil {
		return err
	}
	out, err := s.Schools.ListSchools(c.Request().Context(), actor(c),
		school.SchoolFilter{RegionID: region, Stage: c.QueryParam("stage"), Query: c.QueryParam("q")}, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getSchool(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	sc, err := s.Schools.School(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sc)
}

func (s *Server) createUser(c echo.Context) error { return create(c, s.Auth.CreateUser) }

func (s *Server) listUsers(c echo.Context) error {
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	sid, err := queryInt(c, "school_id")
	if err != nil {
		return err
	}
	out, err := s.Auth.ListUsers(c.Request().Context(), actor(c), auth.UserFilter{Role: c.QueryParam("role"), SchoolID: sid, Query: c.QueryParam("q")}, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) createTerm(c echo.Context) error { return create(c, s.Terms.CreateTerm) }

func (s *Server) listTerms(c echo.Context) error {
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	out, err := s.Terms.ListTerms(c.Request().Context(), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) createPair(c echo.Context) error { return create(c, s.Pairs.CreatePair) }
func (s *Server) updatePair(c echo.Context) error { return update(c, s.Pairs.UpdatePair) }

func (s *Server) listPairs(c echo.Context) error {
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	region, err := queryInt(c, "region_id")
	if err != nil {
		return err
	}
	sid, err := queryInt(c, "school_id")
	if err != nil {
		return err
	}
	out, err := s.Pairs.ListPairs(c.Request().Context(), actor(c), pairing.PairFilter{RegionID: region, SchoolID: sid, Status: c.QueryParam("status"), Query: c.QueryParam("q")}, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getPair(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, err := s.Pairs.Pair(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) createAgreement(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in pairing.AgreementInput
	if err := bind(c, &in); err != nil {
		return err
	}
	ag, err := s.Pairs.CreateAgreement(c.Request().Context(), actor(c), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, ag)
}

func (s *Server) listAgreements(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	out, err := s.Pairs.ListAgreements(c.Request().Context(), actor(c), id, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) auditLog(c echo.Context) error {
	if !actor(c).IsAdmin() {
		return errs.Forbidden("only an admin may read the audit log")
	}
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	eid, err := queryInt(c, "entity_id")
	if err != nil {
		return err
	}
	uid, err := queryInt(c, "user_id")
	if err != nil {
		return err
	}
	out, err := audit.List(c.Request().Context(), s.DB.Conn(c.Request().Context()),
		audit.Filter{Entity: c.QueryParam("entity"), EntityID: eid, UserID: uid, Action: c.QueryParam("action")}, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
