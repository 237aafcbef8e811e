package compliance

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"gorm.io/gorm"
)

// ReadModelTable is one table of the read model a full rebuild rebuilds
// with period_totals: Build fills table — empty, with the columns and
// indexes of Name — from the data, and Repair recomputes the rows of some
// pairs in place (in the caller's transaction), for the pairs a writer
// changed while the shadow tables were being built.
type ReadModelTable struct {
	Name   string
	Build  func(ctx context.Context, table string) error
	Repair func(ctx context.Context, pairIDs []int64) error
}

// AlsoRebuild adds a table to those RebuildAll builds and swaps in with
// period_totals (the composition root wires it once, before serving).
func (l *Ledger) AlsoRebuild(t ReadModelTable) { l.extra = append(l.extra, t) }

// Suffixes of the shadow tables of a rebuild.
const (
	shadowNew = "_new"
	shadowOld = "_old"
)

// rebuildShadow is RebuildAll on MySQL outside a transaction (`twinning
// rebuild`, gendata), in time linear in the data and without a moment in
// which a reader sees an empty or half-built read model:
//
//  1. in one REPEATABLE READ snapshot S, stream the counted activities and
//     fold them into totals, and take a fingerprint of each pair's live
//     period_totals rows;
//  2. write the totals into period_totals_new (CREATE TABLE … LIKE, multi-row
//     INSERTs in key order; no DELETE of the old rows), and each added
//     table into its own _new;
//  3. swap every table in one RENAME TABLE (atomic: a reader sees the old
//     model or the new one; statements wait for the rename, a few ms);
//  4. writers kept moving the old period_totals between S and the swap: a
//     pair whose rows there differ from their fingerprint at S had a
//     transition the new tables lack, so its rows are recomputed in place
//     (RebuildPairs, the path an agreement change takes), then the old
//     tables are dropped.
//
// A transition after the swap moves the new table, as always. See
// docs/lifecycle.md "Rebuilding the read model" for what this leaves out.
func (l *Ledger) rebuildShadow(ctx context.Context) error {
	// the status counts are built from the shadow totals and swapped with them
	tables := append([]ReadModelTable{{Name: "period_totals"}, {Name: StatusTable}}, l.extra...)
	conn := l.db.Conn(ctx).Session(&gorm.Session{NewDB: true})
	exec := func(sql string) error { return conn.Exec(sql).Error }
	for _, t := range tables {
		if err := exec("DROP TABLE IF EXISTS " + t.Name + shadowNew + ", " + t.Name + shadowOld); err != nil {
			return err
		}
		if err := exec("CREATE TABLE " + t.Name + shadowNew + " LIKE " + t.Name); err != nil {
			return err
		}
	}
	dropShadows := func() {
		for _, t := range tables {
			_ = exec("DROP TABLE IF EXISTS " + t.Name + shadowNew)
		}
	}
	var acc *folder
	var before map[int64]uint64
	// read-only: the transaction only pins the snapshot
	err := l.db.WithTx(ctx, func(ctx context.Context) error {
		var err error
		if before, err = l.fingerprints(ctx, "period_totals"); err != nil {
			return err
		}
		acc, err = l.recompute(ctx, "1 = 1")
		return err
	})
	if err != nil {
		dropShadows()
		return err
	}
	if err := l.insertInto(ctx, "period_totals"+shadowNew, acc); err != nil {
		dropShadows()
		return err
	}
	acc = nil
	if err := l.RebuildStatusFrom(ctx, StatusTable+shadowNew, "period_totals"+shadowNew); err != nil {
		dropShadows()
		return err
	}
	for _, t := range l.extra {
		if err := t.Build(ctx, t.Name+shadowNew); err != nil {
			dropShadows()
			return err
		}
	}
	var renames []string
	for _, t := range tables {
		renames = append(renames, t.Name+" TO "+t.Name+shadowOld, t.Name+shadowNew+" TO "+t.Name)
	}
	if err := exec("RENAME TABLE " + strings.Join(renames, ", ")); err != nil {
		dropShadows()
		return err
	}
	// the old table is frozen now: no statement names it any more
	after, err := l.fingerprints(ctx, "period_totals"+shadowOld)
	if err != nil {
		return err
	}
	var moved []int64
	for p, h := range after {
		if before[p] != h {
			moved = append(moved, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			moved = append(moved, p)
		}
	}
	if len(moved) > 0 {
		sort.Slice(moved, func(i, j int) bool { return moved[i] < moved[j] })
		if err := l.repair(ctx, moved); err != nil {
			return fmt.Errorf("rebuild: swapped in, but repairing %d pairs moved meanwhile failed (run it again): %w", len(moved), err)
		}
	}
	for _, t := range tables {
		if err := exec("DROP TABLE IF EXISTS " + t.Name + shadowOld); err != nil {
			return err
		}
	}
	return nil
}

// repair recomputes the read model of pairs in place, 500 pairs per
// transaction.
func (l *Ledger) repair(ctx context.Context, pairIDs []int64) error {
	for start := 0; start < len(pairIDs); start += 500 {
		chunk := pairIDs[start:min(start+500, len(pairIDs))]
		err := l.db.WithTx(ctx, func(ctx context.Context) error {
			// the swapped-in status counts hold these pairs as of the
			// snapshot, as the swapped-in totals do: take that out, put the
			// recomputed back
			if err := l.DetachStatus(ctx, chunk); err != nil {
				return err
			}
			if err := l.rebuild(ctx, "pair_id IN ?", chunk); err != nil {
				return err
			}
			if err := l.AttachStatus(ctx, chunk); err != nil {
				return err
			}
			for _, t := range l.extra {
				if t.Repair != nil {
					if err := t.Repair(ctx, chunk); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// fingerprints hashes each pair's rows of a period_totals table.
func (l *Ledger) fingerprints(ctx context.Context, table string) (map[int64]uint64, error) {
	rows, err := l.db.Conn(ctx).Session(&gorm.Session{NewDB: true}).
		Raw("SELECT pair_id, commitment_id, period_key, achieved, pending FROM " + table).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]uint64{}
	h := fnv.New64a()
	for rows.Next() {
		var pair, commitment int64
		var key, achieved, pending string
		if err := rows.Scan(&pair, &commitment, &key, &achieved, &pending); err != nil {
			return nil, err
		}
		h.Reset()
		fmt.Fprintf(h, "%d|%s|%s|%s", commitment, key, achieved, pending)
		// order-free within a pair: the sum of the rows' hashes
		out[pair] += h.Sum64()
	}
	return out, rows.Err()
}
