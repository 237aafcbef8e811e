package notify

import (
	"context"
	"database/sql"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/mail"
)

// recipient is a user a message goes to.
type recipient struct {
	ID         int64
	Name       string
	Email      string
	Role       string
	SchoolID   *int64
	Locale     string
	Path       string // bureau: region path
	RegionName string // bureau: region name
}

func (r recipient) locale() string {
	if r.Locale == "en" {
		return "en"
	}
	return "zh-CN"
}

// address is the recipient as a header holds it, the name encoded
// whatever it contains (mail.Address).
func (r recipient) address() string { return mail.Address(r.Name, r.Email) }

type pairInfo struct {
	id                            int64
	supporting, supported         int64
	supportingName, supportedName string
	supportedPath                 string
	supportingPath                string
}

func (p *pairInfo) counterpart(school int64) int64 {
	if school == p.supporting {
		return p.supported
	}
	return p.supporting
}

// directory is who belongs where, for the pairs a sweep writes about: four
// queries whatever their number.
type directory struct {
	pairs     map[int64]*pairInfo
	bySchool  map[int64][]recipient
	byRegion  map[string][]recipient // bureau users by region path
	bureauAll []recipient
}

// people are the users messages go to: the coordinators and principals
// of schools, and every bureau user.
type people struct {
	school []recipient
	bureau []recipient
}

// readPeople reads the school users of schools (nil: of every school) and
// the bureau users.
func readPeople(ctx context.Context, db *database.DB, schools []int64) (people, error) {
	var p people
	conn := db.Conn(ctx).Session(&gorm.Session{NewDB: true})
	if schools == nil || len(schools) > 0 {
		q := conn.Table("users").Select("id, name, email, role, school_id, locale").
			Where("active = ? AND role IN ?", true, []string{"coordinator", "principal"})
		if schools != nil {
			q = q.Where("school_id IN ?", schools)
		}
		var err error
		if p.school, err = scanUsers(q.Order("id")); err != nil {
			return p, err
		}
	}
	err := conn.Table("users").Select("users.id, users.name, users.email, users.role, users.locale, regions.path AS path, regions.name AS region_name").
		Joins("JOIN regions ON regions.id = users.region_id").
		Where("users.active = ? AND users.role = ?", true, "bureau").Order("users.id").Find(&p.bureau).Error
	return p, err
}

// loadDirectory reads the pairs and the users of their schools and of the
// bureaus — the users unless everyone holds them already (every school's:
// Sweeper.plan read them beside the evaluation); beside runs reads that
// need no single instant between them (Sweeper.beside).
func loadDirectory(ctx context.Context, db *database.DB, pairIDs []int64, known map[int64]*pairInfo, everyone *people, beside func(context.Context, ...func(context.Context) error) error) (*directory, error) {
	d := &directory{bySchool: map[int64][]recipient{}, byRegion: map[string][]recipient{}}
	// More pairs than half an IN list can have more schools than one IN
	// list holds (a reminder day of a province): then every school's
	// users are read at once, fewer rows to skip than ids to look up, and
	// that read needs nothing from the pairs' so it runs beside it.
	all := len(pairIDs) > inList/2
	var unknown []int64
	for _, id := range pairIDs {
		if known[id] == nil {
			unknown = append(unknown, id)
		}
	}
	readPairs := func(ctx context.Context) error {
		var err error
		if d.pairs, err = loadPairs(ctx, db, unknown); err != nil {
			return err
		}
		for _, id := range pairIDs {
			if p := known[id]; p != nil {
				d.pairs[id] = p
			}
		}
		return nil
	}
	var them people
	readUsers := func(ctx context.Context) error {
		var schools []int64 // nil: every school's
		if !all {
			// the pairs' schools; none (no pair found) reads no school
			// user, only the bureaus
			schools = append([]int64{}, d.schools()...)
		}
		var err error
		them, err = readPeople(ctx, db, schools)
		return err
	}
	var err error
	switch {
	case everyone != nil:
		them = *everyone
		err = beside(ctx, readPairs)
	case all:
		err = beside(ctx, readPairs, readUsers)
	default:
		err = beside(ctx, readPairs)
		if err == nil {
			err = beside(ctx, readUsers)
		}
	}
	if err != nil {
		return nil, err
	}
	users := them.school
	d.bureauAll = them.bureau
	schools := map[int64]bool{}
	for _, id := range d.schools() {
		schools[id] = true
	}
	for _, u := range users {
		if u.SchoolID != nil && schools[*u.SchoolID] {
			d.bySchool[*u.SchoolID] = append(d.bySchool[*u.SchoolID], u)
		}
	}
	for _, u := range d.bureauAll {
		d.byRegion[u.Path] = append(d.byRegion[u.Path], u)
	}
	return d, nil
}

// scanUsers reads the school users q selects (id, name, email, role,
// school_id, locale), scanned by hand: on a reminder day of a province
// they are a hundred thousand rows, and reflection cost more than the
// query. The few distinct roles and locales share one string each.
func scanUsers(q *gorm.DB) ([]recipient, error) {
	rows, err := q.Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []recipient
	words := map[string]string{}
	word := func(b []byte) string {
		if w, ok := words[string(b)]; ok {
			return w
		}
		w := string(b)
		words[w] = w
		return w
	}
	var role, locale sql.RawBytes
	var school sql.NullInt64
	for rows.Next() {
		var u recipient
		if err := rows.Scan(&u.ID, &u.Name, &u.Email, &role, &school, &locale); err != nil {
			return nil, err
		}
		u.Role, u.Locale = word(role), word(locale)
		if school.Valid {
			id := school.Int64
			u.SchoolID = &id
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// schools are the schools of the directory's pairs, each once.
func (d *directory) schools() []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, p := range d.pairs {
		for _, id := range []int64{p.supporting, p.supported} {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

// loadPairs reads the pairs' schools, names and regions: one query per
// 5,000 pairs.
func loadPairs(ctx context.Context, db *database.DB, pairIDs []int64) (map[int64]*pairInfo, error) {
	out := make(map[int64]*pairInfo, len(pairIDs))
	for chunk := range slices.Chunk(pairIDs, inList) {
		var ps []struct {
			ID                                    int64
			SupportingSchoolID, SupportedSchoolID int64
			SupportingName, SupportedName         string
			SupportingPath, SupportedPath         string
		}
		if err := db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Table("pairs").
			Select("pairs.id, pairs.supporting_school_id, pairs.supported_school_id, sup.name AS supporting_name, sud.name AS supported_name, rsup.path AS supporting_path, rsud.path AS supported_path").
			Joins("JOIN schools sup ON sup.id = pairs.supporting_school_id").
			Joins("JOIN schools sud ON sud.id = pairs.supported_school_id").
			Joins("JOIN regions rsup ON rsup.id = sup.region_id").
			Joins("JOIN regions rsud ON rsud.id = sud.region_id").
			Where("pairs.id IN ?", chunk).Find(&ps).Error; err != nil {
			return nil, err
		}
		for _, p := range ps {
			out[p.ID] = &pairInfo{id: p.ID, supporting: p.SupportingSchoolID, supported: p.SupportedSchoolID,
				supportingName: p.SupportingName, supportedName: p.SupportedName, supportingPath: p.SupportingPath, supportedPath: p.SupportedPath}
		}
	}
	return out, nil
}

// regionPaths reads the paths of the regions ids.
func regionPaths(ctx context.Context, db *database.DB, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	for chunk := range slices.Chunk(ids, inList) {
		var rs []struct {
			ID   int64
			Path string
		}
		if err := db.Conn(ctx).Session(&gorm.Session{NewDB: true}).Table("regions").Select("id, path").
			Where("id IN ?", chunk).Find(&rs).Error; err != nil {
			return nil, err
		}
		for _, r := range rs {
			out[r.ID] = r.Path
		}
	}
	return out, nil
}

// inList is the most ids one IN list holds.
const inList = 5000

func (d *directory) schoolUsers(school int64, roles ...string) []recipient {
	var out []recipient
	for _, u := range d.bySchool[school] {
		for _, r := range roles {
			if u.Role == r {
				out = append(out, u)
			}
		}
	}
	return out
}

// responsibleBureau is the bureau users of the nearest region, from the
// supported school's region upwards, that has any.
func (d *directory) responsibleBureau(p *pairInfo) []recipient {
	path := p.supportedPath
	for path != "" && path != "/" {
		if us := d.byRegion[path]; len(us) > 0 {
			return us
		}
		trimmed := strings.TrimSuffix(path, "/")
		i := strings.LastIndex(trimmed, "/")
		if i < 0 {
			break
		}
		path = trimmed[:i+1]
	}
	return nil
}

// uniq concatenates recipient lists, each user once.
func uniq(lists ...[]recipient) []recipient {
	seen := map[int64]bool{}
	var out []recipient
	for _, l := range lists {
		for _, r := range l {
			if !seen[r.ID] {
				seen[r.ID] = true
				out = append(out, r)
			}
		}
	}
	return out
}
