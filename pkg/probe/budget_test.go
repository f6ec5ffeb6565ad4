package probe

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// TestDecodeBudget: weights above the budget take all of it instead of
// waiting forever; while it is taken another decode waits (here: its
// context ends first); released, the budget is whole again; nil bounds
// nothing.
func TestDecodeBudget(t *testing.T) {
	b := NewDecodeBudget(1000)
	release, err := b.Acquire(context.Background(), 5000)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Acquire(ctx, 1); err == nil {
		t.Fatal("acquired while the budget was taken")
	}
	release()
	r2, err := b.Acquire(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	r2()
	var none *DecodeBudget
	r3, err := none.Acquire(ctx, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	r3()
}

// TestDecodeCost: a non-interlaced PNG streams (a few rows' worth), any
// other image costs its pixels.
func TestDecodeCost(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.png")
	if err := os.WriteFile(p, pngtest.PNG(300, 200, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := DecodeCost(p); c != streamCost(300) {
		t.Errorf("png cost %d, want %d", c, streamCost(300))
	}
	if c := DecodeCost(filepath.Join(dir, "missing")); c != 1 {
		t.Errorf("missing file cost %d", c)
	}
}
