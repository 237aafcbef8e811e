package importer

import (
	"fmt"

	"gorm.io/gorm"

	"github.com/twinning-platform/twinning/internal/auth"
)

// The 用户 sheet: accounts matched by email, created without a password.

func (p *plan) checkUsers(conn *gorm.DB) error {
	s := p.book.sheet(shUsers)
	c := func(k string) int { return s.def.col(k) }
	emails := make([]string, 0, len(s.rows))
	for _, r := range s.rows {
		if e := auth.NormalizeEmail(r.get(c("email"))); e != "" {
			emails = append(emails, e)
		}
	}
	type stored struct {
		auth.User
		ScopePath string
	}
	existing := map[string]*stored{}
	err := inChunks(emails, func(keys []string) error {
		var rows []stored
		if err := conn.Session(&gorm.Session{NewDB: true}).Table("users").
			Select("users.*, COALESCE(rs.path, ru.path, '') AS scope_path").
			Joins("LEFT JOIN schools s ON s.id = users.school_id").
			Joins("LEFT JOIN regions rs ON rs.id = s.region_id").
			Joins("LEFT JOIN regions ru ON ru.id = users.region_id").
			Where("users.email IN ?", keys).Find(&rows).Error; err != nil {
			return err
		}
		for i := range rows {
			existing[rows[i].Email] = &rows[i]
		}
		return nil
	})
	if err != nil {
		return err
	}
	fields := map[string]string{"name": "name", "email": "email", "role": "role", "school_id": "school", "region_id": "region", "password": "email", "locale": "email"}
	byEmail := map[string]int{}
	byPhone := map[string]int{}
	var phones []string
	phoneRow := map[string]*userNode{}
	for _, r := range s.rows {
		u := &userNode{name: r.get(c("name")), email: auth.NormalizeEmail(r.get(c("email"))), phone: r.get(c("phone")),
			role: roleEnum.parse(r.get(c("role"))), row: r.n}
		p.enumCell(s, r, "role", roleEnum)
		var schoolID, regionID *int64
		one := int64(1)
		if ref := r.get(c("school")); ref != "" {
			schoolID = &one
			var m *msg
			if u.school, m = p.school(ref); m != nil {
				p.failMsg(s, r.n, "school", *m)
			}
		}
		if ref := r.get(c("region")); ref != "" {
			regionID = &one
			var m *msg
			if u.region, m = p.region(ref); m != nil {
				p.failMsg(s, r.n, "region", *m)
			}
		}
		p.failDomain(s, r.n, p.im.users.ValidateInvitee(p.a, auth.UserInput{Name: u.name, Email: u.email, Role: u.role,
			SchoolID: schoolID, RegionID: regionID, Locale: p.lang}), fields)
		if phone, problem := auth.NormalizePhone(u.phone); problem != "" {
			p.failMsg(s, r.n, "phone", msg{problem, "须为 11 位大陆手机号"})
		} else if u.phone = phone; phone != "" {
			if prev, dup := byPhone[phone]; dup {
				p.failMsg(s, r.n, "phone", msg{fmt.Sprintf("the same mobile number as row %d", prev), fmt.Sprintf("与第 %d 行手机号相同", prev)})
			} else {
				byPhone[phone] = r.n
				phones = append(phones, phone)
				phoneRow[phone] = u
			}
		}
		if u.email == "" {
			continue
		}
		if prev, dup := byEmail[u.email]; dup {
			p.failMsg(s, r.n, "email", msg{fmt.Sprintf("the same email as row %d", prev), fmt.Sprintf("与第 %d 行邮箱相同", prev)})
			continue
		}
		byEmail[u.email] = r.n
		if u.school != nil && !p.coveredSchool(u.school) {
			p.failMsg(s, r.n, "school", msgOutside)
		}
		if u.region != nil && !p.covered(u.region) {
			p.failMsg(s, r.n, "region", msgOutside)
		}
		if old := existing[u.email]; old != nil {
			u.id = old.ID
			if old.Role == auth.RoleAdmin {
				p.failMsg(s, r.n, "email", msg{"an admin account is not changed by an import", "系统管理员账号不能通过导入修改"})
			} else if !p.a.IsAdmin() && !p.a.CoversPath(old.ScopePath) {
				p.failMsg(s, r.n, "email", msg{"this email belongs to an account outside your region", "该邮箱属于您管辖范围以外的账号"})
			}
			sameInt := func(a *int64, n int64) bool { return (a == nil && n == 0) || (a != nil && *a == n) }
			var sid, rid int64
			if u.school != nil {
				sid = u.school.id
			}
			if u.region != nil {
				rid = u.region.id
			}
			u.dirty = old.Name != u.name || deref(old.Phone) != u.phone || old.Role != u.role || !sameInt(old.SchoolID, sid) || !sameInt(old.RegionID, rid) ||
				(u.school != nil && u.school.id == 0) || (u.region != nil && u.region.id == 0)
		}
		p.users = append(p.users, u)
	}
	// a mobile number is unique among accounts: one held by an account of
	// another email is a row error (the unique index would refuse it anyway)
	return inChunks(phones, func(keys []string) error {
		var held []struct{ Email, Phone string }
		if err := conn.Session(&gorm.Session{NewDB: true}).Table("users").Select("email, phone").
			Where("phone IN ?", keys).Find(&held).Error; err != nil {
			return err
		}
		for _, h := range held {
			if u := phoneRow[h.Phone]; u != nil && u.email != h.Email {
				p.failMsg(s, u.row, "phone", msg{"this mobile number is already taken by another account", "该手机号已被其他账号使用"})
			}
		}
		return nil
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
