package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/xuri/excelize/v2"

	"github.com/twinning-platform/twinning/internal/assessment"
	"github.com/twinning-platform/twinning/internal/calendar"
	"github.com/twinning-platform/twinning/internal/errs"
)

// Annual assessment (issue 11).

func (s *Server) computeAssessment(c echo.Context) (assessment.Result, error) {
	region, err := queryInt(c, "region_id")
	if err != nil {
		return assessment.Result{}, err
	}
	at, err := queryDate(c, "at")
	if err != nil {
		return assessment.Result{}, err
	}
	year := c.QueryParam("school_year")
	if year == "" {
		return assessment.Result{}, errs.Field("school_year", "is required, e.g. 2025-2026")
	}
	return s.Assessments.Compute(c.Request().Context(), actor(c), year, region, at)
}

func (s *Server) listAssessments(c echo.Context) error {
	res, err := s.computeAssessment(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

func (s *Server) getAssessmentSettings(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	out, err := s.Assessments.Settings(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) putAssessmentSettings(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in assessment.SettingsInput
	if err := bind(c, &in); err != nil {
		return err
	}
	out, err := s.Assessments.SetSettings(c.Request().Context(), actor(c), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// sheetName makes a valid, unique Excel sheet name (31 characters, none
// of []:*?/\).
func sheetName(name string, used map[string]bool) string {
	name = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`[]:*?/\`, r) {
			return '_'
		}
		return r
	}, name)
	if r := []rune(name); len(r) > 28 {
		name = string(r[:28])
	}
	if name == "" {
		name = "region"
	}
	out := name
	for i := 2; used[out]; i++ {
		out = fmt.Sprintf("%s %d", name, i)
	}
	used[out] = true
	return out
}

// exportAssessment writes one sheet per region (the schools' own regions,
// ranked within each) and a sheet of the periods behind every score.
func (s *Server) exportAssessment(c echo.Context) error {
	res, err := s.computeAssessment(c)
	if err != nil {
		return err
	}
	f := excelize.NewFile()
	defer f.Close()
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Color: []string{"E4E7EB"}, Pattern: 1}})
	if err != nil {
		return err
	}
	used := map[string]bool{}
	write := func(sheet string, rows [][]any) error {
		for i, row := range rows {
			cell, _ := excelize.CoordinatesToCellName(1, i+1)
			if err := f.SetSheetRow(sheet, cell, &row); err != nil {
				return err
			}
		}
		end, _ := excelize.CoordinatesToCellName(len(rows[0]), 1)
		return f.SetCellStyle(sheet, "A1", end, bold)
	}
	first := true
	names := map[int64]string{}
	for _, g := range assessment.ByRegion(res.Items) {
		name := sheetName(g.RegionName, used)
		if first {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				return err
			}
			first = false
		} else if _, err := f.NewSheet(name); err != nil {
			return err
		}
		rows := [][]any{{"排名", "学校", "得分", "等级", "完成度得分", "考核周期数", "被通报次数", "逾期整改次数"}}
		for _, it := range g.Items {
			names[it.SchoolID] = it.Name
			rows = append(rows, []any{it.Rank, it.Name, it.Score.Float(), it.Grade, it.Base.Float(), it.Periods, it.Circulars, it.Overdue})
		}
		if err := write(name, rows); err != nil {
			return err
		}
		_ = f.SetColWidth(name, "B", "B", 28)
	}
	ev := sheetName("评分依据", used)
	if first {
		if err := f.SetSheetName("Sheet1", ev); err != nil {
			return err
		}
	} else if _, err := f.NewSheet(ev); err != nil {
		return err
	}
	rows := [][]any{{"学校", "结对学校", "结对编号", "承诺编号", "类别", "周期", "要求", "完成", "完成率", "权重"}}
	for _, p := range res.Evidence {
		rows = append(rows, []any{names[p.SchoolID], p.Counterpart, p.PairID, p.CommitmentID, strings.Join(p.Categories, ","),
			calendar.KeyWords(p.PeriodKey, "zh-CN"), p.Required.Float(), p.Achieved.Float(), p.Fraction.Float(), p.Weight.Float()})
	}
	if err := write(ev, rows); err != nil {
		return err
	}
	_ = f.SetColWidth(ev, "A", "B", 24)
	attachment(c, fmt.Sprintf("assessment-%s.xlsx", res.SchoolYear), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	c.Response().WriteHeader(http.StatusOK)
	_, err = f.WriteTo(c.Response())
	return err
}
