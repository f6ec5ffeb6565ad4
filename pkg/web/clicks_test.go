package web

import (
	"context"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// TestClickFlush: buffered clicks are added to the counter in one batch; a
// busy database keeps them for the next flush; a media deleted since its
// view is skipped without failing the batch.
func TestClickFlush(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := newClickRecorder()
	clicks := func() (n int64, last int64) {
		f.db.QueryRow(`SELECT clicks, last_click_at FROM media_activity WHERE media_id = ?`, f.imgID).Scan(&n, &last)
		return n, last
	}
	c.add(f.imgID, 100)
	c.add(f.imgID, 300)
	c.add(f.imgID+1000, 200) // no such media
	// Busy: another connection holds the write lock; a writer that does
	// not wait fails and keeps the clicks.
	impatient, err := db.Open(ctx, db.Options{Path: f.cfg.DB.Path, BusyTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	tx, err := f.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		t.Fatal(err)
	}
	if err := c.flush(ctx, impatient); !db.IsBusy(err) {
		t.Fatalf("flush under lock: %v", err)
	}
	tx.Rollback()
	c.add(f.imgID, 200)
	if err := c.flush(ctx, f.db); err != nil {
		t.Fatal(err)
	}
	if n, last := clicks(); n != 3 || last != 300 {
		t.Fatalf("clicks %d last %d, want 3 at 300", n, last)
	}
	c.add(f.imgID, 400)
	if err := c.flush(ctx, f.db); err != nil {
		t.Fatal(err)
	}
	if n, last := clicks(); n != 4 || last != 400 {
		t.Fatalf("clicks %d last %d, want 4 at 400", n, last)
	}
}
