package dupes

import (
	"context"
	"database/sql"
	"slices"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

func badTier(t string) error {
	return reason.Newf(CodeBadTier, "unknown tier %q: use exact, phash or embedding", t).With("tier", t)
}

// Rules are the automatic resolve rules (config dupes.auto), tried in
// this order; the first that tells two members apart decides. With all
// rules off, or when none tells the members apart, the group is left
// for a person.
type Rules struct {
	Tiers            []string
	PreferResolution bool
	PreferPNG        bool
	PreferMetadata   bool
}

// AutoPlan is the decision for one group: Keep is 0 when the rules
// cannot choose (Why says so).
type AutoPlan struct {
	Group   int64   `json:"group"`
	Tier    string  `json:"tier"`
	Keep    int64   `json:"keep"`
	Discard []int64 `json:"discard"`
	Why     string  `json:"why"`
}

// compare orders two members by the rules: < 0 when a is the better one
// to keep, with the deciding rule's name.
func (r Rules) compare(a, b Member) (int, string) {
	if r.PreferResolution && a.Pixels() != b.Pixels() {
		if a.Pixels() > b.Pixels() {
			return -1, "larger resolution"
		}
		return 1, "larger resolution"
	}
	png := func(m Member) bool { return m.Format == "png" }
	jpg := func(m Member) bool { return m.Format == "jpg" }
	if r.PreferPNG && a.Pixels() == b.Pixels() && a.Pixels() > 0 {
		switch {
		case png(a) && jpg(b):
			return -1, "PNG over JPEG"
		case jpg(a) && png(b):
			return 1, "PNG over JPEG"
		}
	}
	if r.PreferMetadata && a.HasPrompt != b.HasPrompt {
		if a.HasPrompt {
			return -1, "has metadata"
		}
		return 1, "has metadata"
	}
	return 0, ""
}

// Choose picks the member to keep: the one every other member compares
// worse to. Keep 0 when some member ties with the best (the rules do not
// decide) — an automatic run never guesses.
func (r Rules) Choose(g ListedGroup) AutoPlan {
	ap := AutoPlan{Group: g.ID, Tier: g.Tier, Discard: []int64{}}
	if !slices.Contains(r.Tiers, g.Tier) {
		ap.Why = "tier " + g.Tier + " is not in dupes.auto.tiers"
		return ap
	}
	if len(g.Members) < 2 {
		ap.Why = "fewer than two media left"
		return ap
	}
	best := 0
	for i := 1; i < len(g.Members); i++ {
		if c, _ := r.compare(g.Members[i], g.Members[best]); c < 0 {
			best = i
		}
	}
	var why []string
	for i, m := range g.Members {
		if i == best {
			continue
		}
		c, rule := r.compare(g.Members[best], m)
		if c >= 0 {
			ap.Discard = []int64{}
			ap.Why = "the rules do not tell the media apart; review them"
			return ap
		}
		ap.Discard = append(ap.Discard, m.ID)
		if !slices.Contains(why, rule) {
			why = append(why, rule)
		}
	}
	ap.Keep = g.Members[best].ID
	for i, w := range why {
		if i > 0 {
			ap.Why += ", "
		}
		ap.Why += w
	}
	return ap
}

// Auto applies the rules to every listed group (DryRun: plans only) and
// returns a plan per group; each resolve is its own short transaction.
// The groups the rules cannot decide are returned with Keep 0.
func Auto(ctx context.Context, d *sql.DB, r Rules, o ResolveOptions) ([]AutoPlan, error) {
	groups, err := List(ctx, d, "", 0)
	if err != nil {
		return nil, err
	}
	out := make([]AutoPlan, 0, len(groups))
	for _, g := range groups {
		ap := r.Choose(g)
		if ap.Keep != 0 {
			if _, err := Resolve(ctx, d, ap.Keep, ap.Discard, o); err != nil {
				return out, err
			}
		}
		out = append(out, ap)
	}
	return out, nil
}
