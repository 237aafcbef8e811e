// Package importer is the onboarding workbook (one .xlsx a bureau keeps):
// its template, the check of every row against the rules the API applies,
// the import itself in one transaction, the export of a scope in the same
// shape (so export → edit → import is a round trip) and the copy of an
// uploaded workbook annotated with its errors. It knows nothing of HTTP.
package importer

import (
	"fmt"
	"strings"

	"github.com/twinning-platform/twinning/internal/category"
)

// Languages of the workbook's labels.
const (
	LangZH = "zh-CN"
	LangEN = "en"
)

// column is one column of a sheet: its key, its header in both languages
// and what the 说明 sheet says about it.
type column struct {
	key            string
	zh, en         string
	helpZH, helpEN string
	required       bool
}

// sheetDef is one sheet of the workbook.
type sheetDef struct {
	key    string
	zh, en string
	cols   []column
}

func (s *sheetDef) name(lang string) string {
	if lang == LangEN {
		return s.en
	}
	return s.zh
}

func (c column) name(lang string) string {
	if lang == LangEN {
		return c.en
	}
	return c.zh
}

// index of a column key within the sheet.
func (s *sheetDef) col(key string) int {
	for i, c := range s.cols {
		if c.key == key {
			return i
		}
	}
	panic("importer: no column " + key + " on " + s.key)
}

// Sheet keys, in dependency order.
const (
	shRegions     = "regions"
	shSchools     = "schools"
	shUsers       = "users"
	shPairs       = "pairs"
	shAgreements  = "agreements"
	shExplanation = "explanation"
)

const schoolRefHelpZH = "学校代码（10 位），或学校名称（在所属地区内唯一；重名时写成 地区/学校名称）"
const schoolRefHelpEN = "the school code (10 digits), or its name (unique within its region; when names repeat write region/name)"
const regionRefHelpZH = "地区名称；重名时写完整路径，如 湖北省/黄冈市/麻城市"
const regionRefHelpEN = "the region's name; where names repeat, its full path such as 湖北省/黄冈市/麻城市"
const dateHelpZH = "Excel 日期或 YYYY-MM-DD 文本"
const dateHelpEN = "an Excel date or YYYY-MM-DD text"

var sheets = []*sheetDef{
	{key: shRegions, zh: "地区", en: "Regions", cols: []column{
		{key: "name", zh: "名称", en: "Name", required: true, helpZH: "地区名称，如 麻城市", helpEN: "the region's name, e.g. 麻城市"},
		{key: "level", zh: "级别", en: "Level", required: true, helpZH: "省 / 市 / 县", helpEN: "province / city / county"},
		{key: "parent", zh: "上级地区", en: "Parent region", helpZH: "省留空；其余填上级地区（" + regionRefHelpZH + "）", helpEN: "empty for a province; otherwise the parent region (" + regionRefHelpEN + ")"},
	}},
	{key: shSchools, zh: "学校", en: "Schools", cols: []column{
		{key: "name", zh: "学校名称", en: "School name", required: true, helpZH: "学校全称", helpEN: "the school's full name"},
		{key: "code", zh: "学校代码", en: "School code", helpZH: "10 位全国学校标识码，可空；填写后按代码识别学校", helpEN: "the 10-digit national school code, optional; when given, the school is found by it"},
		{key: "region", zh: "所属地区", en: "Region", required: true, helpZH: "通常是县（" + regionRefHelpZH + "）", helpEN: "usually a county (" + regionRefHelpEN + ")"},
		{key: "stage", zh: "学段", en: "Stage", required: true, helpZH: "幼儿园 / 小学 / 初中 / 高中 / 职业学校 / 九年一贯制 / 十二年一贯制", helpEN: "kindergarten / primary / junior / senior / vocational / nine_year / twelve_year"},
		{key: "email", zh: "联系邮箱", en: "Contact email", helpZH: "可空", helpEN: "optional"},
	}},
	{key: shUsers, zh: "用户", en: "Users", cols: []column{
		{key: "name", zh: "姓名", en: "Name", required: true, helpZH: "姓名", helpEN: "the person's name"},
		{key: "email", zh: "邮箱", en: "Email", required: true, helpZH: "登录邮箱，按它识别用户；导入的用户收到邀请邮件自行设置密码", helpEN: "the login; users are found by it. Imported users get an invitation to set their password"},
		{key: "phone", zh: "手机号", en: "Mobile", helpZH: "可空", helpEN: "optional"},
		{key: "role", zh: "角色", en: "Role", required: true, helpZH: "教育局 / 联络员 / 校长", helpEN: "bureau / coordinator / principal"},
		{key: "school", zh: "所属学校", en: "School", helpZH: "联络员和校长必填（" + schoolRefHelpZH + "）", helpEN: "required for coordinators and principals (" + schoolRefHelpEN + ")"},
		{key: "region", zh: "所属地区", en: "Region", helpZH: "教育局必填，其余留空（" + regionRefHelpZH + "）", helpEN: "required for a bureau, empty otherwise (" + regionRefHelpEN + ")"},
	}},
	{key: shPairs, zh: "结对", en: "Pairs", cols: []column{
		{key: "supporting", zh: "支援学校", en: "Supporting school", required: true, helpZH: schoolRefHelpZH, helpEN: schoolRefHelpEN},
		{key: "supported", zh: "受援学校", en: "Supported school", required: true, helpZH: schoolRefHelpZH, helpEN: schoolRefHelpEN},
		{key: "starts_on", zh: "开始日期", en: "Start date", required: true, helpZH: dateHelpZH, helpEN: dateHelpEN},
		{key: "ends_on", zh: "结束日期", en: "End date", helpZH: "可空（长期）；" + dateHelpZH, helpEN: "optional (open-ended); " + dateHelpEN},
		{key: "round", zh: "轮次", en: "Round", helpZH: "可空，如 第一轮", helpEN: "optional, e.g. 第一轮"},
	}},
	{key: shAgreements, zh: "协议指标", en: "Agreements", cols: []column{
		{key: "supporting", zh: "支援学校", en: "Supporting school", required: true, helpZH: "一行一项指标；支援学校、受援学校、协议名称相同的行组成一份协议。" + schoolRefHelpZH, helpEN: "one row per commitment; rows with the same supporting school, supported school and title form one agreement. " + schoolRefHelpEN},
		{key: "supported", zh: "受援学校", en: "Supported school", required: true, helpZH: schoolRefHelpZH, helpEN: schoolRefHelpEN},
		{key: "title", zh: "协议名称", en: "Agreement title", required: true, helpZH: "在同一结对内唯一", helpEN: "unique within the pair"},
		{key: "signed_on", zh: "签订日期", en: "Signed on", helpZH: "可空；" + dateHelpZH, helpEN: "optional; " + dateHelpEN},
		{key: "effective_from", zh: "生效日期", en: "Effective from", required: true, helpZH: dateHelpZH, helpEN: dateHelpEN},
		{key: "effective_to", zh: "截止日期", en: "Effective to", required: true, helpZH: dateHelpZH, helpEN: dateHelpEN},
		{key: "categories", zh: "活动类别", en: "Categories", required: true, helpZH: "一个或多个，用 、 或 , 分隔：" + categoryList(LangZH), helpEN: "one or more, separated by , or 、: " + categoryList(LangEN)},
		{key: "measure", zh: "计量", en: "Measure", required: true, helpZH: "次数 / 课时 / 人次", helpEN: "count / hours / persons"},
		{key: "minimum", zh: "最低要求", en: "Minimum", required: true, helpZH: "大于 0；课时最多两位小数，其余为整数", helpEN: "greater than 0; hours with at most two decimals, otherwise a whole number"},
		{key: "period", zh: "周期", en: "Period", required: true, helpZH: "每月 / 每学期 / 每学年 / 协议期内", helpEN: "month / term / school_year / agreement"},
		{key: "description", zh: "说明", en: "Description", helpZH: "可空", helpEN: "optional"},
	}},
}

func sheetByKey(key string) *sheetDef {
	for _, s := range sheets {
		if s.key == key {
			return s
		}
	}
	panic("importer: no sheet " + key)
}

// explanationName is the name of the 说明 sheet.
func explanationName(lang string) string {
	if lang == LangEN {
		return "Instructions"
	}
	return "说明"
}

// errorHeader is the column the annotated copy adds.
func errorHeader(lang string) string {
	if lang == LangEN {
		return "Errors"
	}
	return "错误"
}

// enum is an enumerated column's vocabulary: code → Chinese label. The
// English "label" of a value is its code.
type enum struct {
	codes []string
	zh    map[string]string
	alias map[string]string // more Chinese spellings accepted on import
}

func (e enum) label(code, lang string) string {
	if lang == LangEN {
		return code
	}
	if l, ok := e.zh[code]; ok {
		return l
	}
	return code
}

func (e enum) labels(lang string) []string {
	out := make([]string, len(e.codes))
	for i, c := range e.codes {
		out[i] = e.label(c, lang)
	}
	return out
}

// parse maps a cell to a code; an unknown value is returned as it is, so
// that the domain's validator names it in its own words.
func (e enum) parse(v string) string {
	v = strings.TrimSpace(v)
	for code, l := range e.zh {
		if v == l {
			return code
		}
	}
	if c, ok := e.alias[v]; ok {
		return c
	}
	for _, c := range e.codes {
		if strings.EqualFold(v, c) {
			return c
		}
	}
	return v
}

var (
	levels = enum{codes: []string{"province", "city", "county"},
		zh:    map[string]string{"province": "省", "city": "市", "county": "县"},
		alias: map[string]string{"省级": "province", "市级": "city", "县级": "county", "区": "county", "县区": "county", "地市": "city"}}
	stageEnum = enum{codes: []string{"kindergarten", "primary", "junior", "senior", "vocational", "nine_year", "twelve_year"},
		zh: map[string]string{"kindergarten": "幼儿园", "primary": "小学", "junior": "初中", "senior": "高中",
			"vocational": "职业学校", "nine_year": "九年一贯制", "twelve_year": "十二年一贯制"}}
	roleEnum = enum{codes: []string{"bureau", "coordinator", "principal"},
		zh:    map[string]string{"bureau": "教育局", "coordinator": "联络员", "principal": "校长"},
		alias: map[string]string{"教育行政部门": "bureau"}}
	measureEnum = enum{codes: []string{"count", "hours", "persons"},
		zh: map[string]string{"count": "次数", "hours": "课时", "persons": "人次"}}
	periodEnum = enum{codes: []string{"month", "term", "school_year", "agreement"},
		zh: map[string]string{"month": "每月", "term": "每学期", "school_year": "每学年", "agreement": "协议期内"}}
	categoryEnum = enum{codes: category.All(),
		zh: map[string]string{"visit": "实地指导", "management_exchange": "管理交流", "demonstration_lesson": "示范课",
			"lecture": "专题讲座", "teacher_training": "教师培训", "mentoring": "师徒结对", "teaching_support": "送教支教",
			"secondment": "挂职交流", "shadow_learning": "跟班学习", "student_exchange": "学生交流", "campus_culture": "校园文化",
			"resource_sharing": "资源共享", "donation": "捐赠", "other": "其他"}}
)

// enumOf is the vocabulary of an enumerated column, for dropdowns.
func enumOf(sheet, col string) *enum {
	switch sheet + "." + col {
	case "regions.level":
		return &levels
	case "schools.stage":
		return &stageEnum
	case "users.role":
		return &roleEnum
	case "agreements.measure":
		return &measureEnum
	case "agreements.period":
		return &periodEnum
	}
	return nil
}

// known reports whether v is a label or code of the vocabulary.
func (e enum) known(v string) bool {
	c := e.parse(v)
	for _, k := range e.codes {
		if k == c {
			return true
		}
	}
	return false
}

// choice is the message of a value outside the vocabulary, listing it in
// the caller's language.
func (e enum) choice(v string) msg {
	return msg{fmt.Sprintf("%q is not one of %s", v, strings.Join(e.labels(LangEN), ", ")),
		fmt.Sprintf("“%s”不在可选值中：%s", v, strings.Join(e.labels(LangZH), "、"))}
}

func categoryList(lang string) string {
	sep := "、"
	if lang == LangEN {
		sep = ", "
	}
	return strings.Join(categoryEnum.labels(lang), sep)
}

// splitCategories splits a cell of several categories.
func splitCategories(v string) []string {
	parts := strings.FieldsFunc(v, func(r rune) bool {
		return r == '、' || r == ',' || r == '，' || r == ';' || r == '；' || r == '\n'
	})
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, categoryEnum.parse(p))
		}
	}
	return out
}

// msg is a message of the importer's own in both languages (the domain
// validators answer in English, as the API does).
type msg struct{ en, zh string }

func (m msg) in(lang string) string {
	if lang == LangEN || m.zh == "" {
		return m.en
	}
	return m.zh
}
