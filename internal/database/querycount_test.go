package database

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"
)

func TestCountQueries(t *testing.T) {
	db, err := Open(Options{Driver: SQLite, DSN: filepath.Join(t.TempDir(), "count.db"), MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var (
		mu    sync.Mutex
		kinds []string
	)
	c := WatchQueries(db, func(e QueryEvent) {
		mu.Lock()
		defer mu.Unlock()
		kinds = append(kinds, e.Kind)
		if e.SQL == "" {
			t.Errorf("%s event without SQL", e.Kind)
		}
	})
	plain := CountQueries(db) // two counters on one DB count independently

	type row struct {
		ID   int64 `gorm:"primaryKey"`
		Name string
	}
	g := db.Gorm().WithContext(ctx)
	steps := []func() error{
		func() error { return g.Exec("CREATE TABLE rows_ (id INTEGER PRIMARY KEY, name TEXT)").Error }, // raw
		func() error { return g.Table("rows_").Create(&row{Name: "a"}).Error },                         // create
		func() error { var rs []row; return g.Table("rows_").Find(&rs).Error },                         // query
		func() error { var n int64; return g.Raw("SELECT COUNT(*) FROM rows_").Scan(&n).Error },        // row
		func() error { return g.Table("rows_").Where("id = ?", 1).Update("name", "b").Error },          // update
		func() error { return g.Table("rows_").Where("id = ?", 1).Delete(&row{}).Error },               // delete
		func() error {
			return db.WithTx(ctx, func(ctx context.Context) error { return db.Conn(ctx).Exec("SELECT 1").Error })
		}, // raw in a tx
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	// A statement that fails at the database was still sent: it counts.
	if err := g.Exec("SELECT * FROM no_such_table").Error; err == nil {
		t.Fatal("expected an error")
	}
	if got, want := c.Queries(), int64(len(steps)+1); got != want {
		t.Errorf("Queries() = %d, want %d", got, want)
	}
	if plain.Queries() != c.Queries() {
		t.Errorf("second counter: %d, first: %d", plain.Queries(), c.Queries())
	}
	if c.Elapsed() <= 0 {
		t.Errorf("Elapsed() = %v, want > 0", c.Elapsed())
	}
	if got := strings.Join(kinds, ","); got != "raw,create,query,row,update,delete,raw,raw" {
		t.Errorf("kinds = %s", got)
	}

	// A dry run builds SQL but sends nothing.
	before := c.Queries()
	var rs []row
	db.Gorm().Session(&gorm.Session{DryRun: true}).Table("rows_").Find(&rs)
	if c.Queries() != before {
		t.Errorf("dry run counted")
	}
}
