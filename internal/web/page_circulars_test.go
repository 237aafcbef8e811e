package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twinning-platform/twinning/internal/database"
	"github.com/twinning-platform/twinning/internal/date"
	"github.com/twinning-platform/twinning/internal/testutil"
)

// The pages of issue 11 on the demo programme: a county bureau drafts a
// circular from the autumn term's breaches, edits and publishes it; the
// school acknowledges, attaches a photo and reports; the bureau returns
// it, the school reports again and the bureau accepts. Then the print
// page, the assessment table and the robots' configuration, in both
// languages.
func TestPageCirculars(t *testing.T) {
	testutil.EachDB(t, func(t *testing.T, db *database.DB) {
		d := newDemo(t, db)
		if _, err := d.app.Check(context.Background(), date.MustParse(demoToday), d.app.Now(), false); err != nil {
			t.Fatal(err)
		}
		b := d.as("macheng@demo.local", demoBureauPW)
		b.must(200, b.get("/circulars")).has(t, "起草通报", "2025—2026学年秋季学期")
		// a bad date comes back on the form
		r := b.post("/circulars", url.Values{"period_key": {"2025-2026-autumn"}, "title": {"关于秋季学期结对帮扶工作的通报"}, "rectify_by": {"3月1日"}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.text(), "请填写有效日期") {
			t.Fatalf("bad date: %d %s", r.Status, r.text())
		}
		r = b.post("/circulars", url.Values{"period_key": {"2025-2026-autumn"}, "title": {"关于秋季学期结对帮扶工作的通报"}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("draft: %d %s", r.Status, r.text())
		}
		page := r.location()
		b.must(200, b.get(page)).has(t, "编辑草稿", "麻城市第五中学", "武汉市第六中学", "2025—2026学年秋季学期")
		// publishing without a number and a deadline names both fields
		r = b.post(page, url.Values{"title": {"关于秋季学期结对帮扶工作的通报"}, "publish": {"1"}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="number-error"`) || !strings.Contains(r.Body, `id="rectify_by-error"`) {
			t.Fatalf("publish without number: %d %s", r.Status, r.text())
		}
		r = b.post(page, url.Values{"title": {"关于秋季学期结对帮扶工作的通报"}, "number": {"麻教通〔2026〕3号"}, "rectify_by": {"2026-03-01"},
			"preamble": {"各中小学："}, "requirements": {"请于规定期限内完成整改。"}, "publish": {"1"}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("publish: %d %s", r.Status, r.text())
		}
		pub := b.must(200, b.get(page))
		pub.has(t, "通报已发布", "打印（A4）", "下载 Word 文档", "待签收")
		pub.lacks(t, "编辑草稿")
		pr := b.must(200, b.get(page+"/print"))
		pr.has(t, "麻城市教育局文件", "麻教通〔2026〕3号", "请被通报学校于 2026-03-01 前提交整改报告")
		if !strings.Contains(pr.Body, `class="red-head"`) || !strings.Contains(pr.Body, `class="a4"`) {
			t.Errorf("the print page lacks the red header or the A4 sheet")
		}
		doc := b.get(page + "/document.docx")
		if doc.Status != 200 || !strings.HasPrefix(doc.Body, "PK") {
			t.Fatalf("docx: %d", doc.Status)
		}
		// posting to a published circular is refused
		if r := b.post(page, url.Values{"title": {"改"}}); r.Status != http.StatusUnprocessableEntity && r.Status != http.StatusConflict {
			t.Fatalf("edit after publishing: %d", r.Status)
		}

		head := d.as("mc5.head@demo.local", demoSchoolPW)
		home := head.must(200, head.get("/rectifications?fragment=open"))
		home.has(t, "待完成的整改", "麻教通〔2026〕3号")
		rect := "/rectifications/" + regexp1(home.Body, `href="/rectifications/(\d+)"`)
		head.must(200, head.get(rect)).has(t, "签收", "待签收")
		if r := head.post(rect+"/acknowledge", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("acknowledge: %d %s", r.Status, r.text())
		}
		head.must(200, head.get(rect)).has(t, "已签收", "提交整改报告")
		if r := head.upload(rect+"/files", nil, "file", "整改照片.png", pngImage(t, 4, 4)); r.Status != http.StatusSeeOther {
			t.Fatalf("upload: %d %s", r.Status, r.text())
		}
		if r := head.post(rect+"/submit", url.Values{"report": {""}}); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("empty report: %d", r.Status)
		}
		head.post(rect+"/submit", url.Values{"report": {"已补开两次管理交流活动。"}})
		if r := b.post(rect+"/return", url.Values{"reason": {"请附活动照片"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("return: %d %s", r.Status, r.text())
		}
		head.must(200, head.get(rect)).has(t, "已退回", "请附活动照片", "整改照片.png")
		head.post(rect+"/submit", url.Values{"report": {"已补开两次管理交流活动，附照片。"}})
		if r := head.post(rect+"/accept", nil); r.Status != http.StatusForbidden {
			t.Fatalf("the school accepts its own report: %d", r.Status)
		}
		if r := b.post(rect+"/accept", nil); r.Status != http.StatusSeeOther {
			t.Fatalf("accept: %d %s", r.Status, r.text())
		}
		b.must(200, b.get(rect)).has(t, "已通过", "附照片")
		b.must(200, b.get("/rectifications?fragment=open")).has(t, "没有待完成的整改")

		// the assessment, printable
		b.must(200, b.get("/assessments?school_year=2025-2026")).has(t, "年度考核", "麻城市第五中学", "计分方法")
		b.must(200, b.get("/assessments?school_year=2025-2026&print=1")).has(t, "麻城市第五中学", "70.00", "合格")
		// robots: the webhook is checked; 127.0.0.1 is allowed in tests
		b.must(200, b.get("/robots")).has(t, "群机器人", "尚未配置机器人")
		r = b.post("/robots", url.Values{"region_id": {fmt.Sprint(d.regions["麻城市"])}, "kind": {"dingtalk"}, "webhook": {"https://10.1.2.3/robot/send?access_token=x"}})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="webhook-error"`) {
			t.Fatalf("internal webhook: %d %s", r.Status, r.text())
		}
		r = b.post("/robots", url.Values{"region_id": {fmt.Sprint(d.regions["麻城市"])}, "kind": {"wecom"}, "name": {"教育局工作群"},
			"webhook": {"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abcdef"}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("robot: %d %s", r.Status, r.text())
		}
		robots := b.must(200, b.get(r.location()))
		robots.has(t, "教育局工作群", "企业微信群机器人", "已发送 0 · 排队 0 · 失败 0")
		robots.lacks(t, "abcdef")

		// in English
		en := d.as("hubei@demo.local", demoBureauPW)
		en.post("/lang", url.Values{"locale": {"en"}, "next": {"/circulars"}})
		en.must(200, en.get("/circulars")).has(t, "Draft a circular", "autumn term 2025–2026")
		en.must(200, en.get(page)).has(t, "Schools named", "Print (A4)")
		en.must(200, en.get("/assessments?school_year=2025-2026")).has(t, "Annual assessment", "How the score is computed")
		// a coordinator has no circular drafting
		c := d.as("wh6.coord@demo.local", demoSchoolPW)
		if r := c.post("/circulars", url.Values{"period_key": {"2025-2026"}, "title": {"x"}}); r.Status != http.StatusForbidden {
			t.Fatalf("coordinator drafting: %d", r.Status)
		}
		if r := c.get("/assessments"); r.Status != http.StatusForbidden {
			t.Fatalf("coordinator assessments: %d", r.Status)
		}
	})
}
