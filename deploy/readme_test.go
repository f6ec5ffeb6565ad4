package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeSection returns the text under "### title" up to the next heading
// of the same or a higher level.
func readmeSection(t *testing.T, readme, title string) string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "\n### "+title+"\n")
	if !ok {
		t.Fatalf("README has no section %q", title)
	}
	if i := regexp.MustCompile(`\n##+ `).FindStringIndex(rest); i != nil {
		rest = rest[:i[0]]
	}
	return rest
}

// TestReadmeOperations: the operating sections exist, the upgrade
// procedure backs up before it migrates and migrates only with everything
// stopped, and every cron line starts a binary that exists.
func TestReadmeOperations(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range []string{"Backups", "Upgrading", "Cron", "Run as a service (Linux)", "Run on Windows"} {
		readmeSection(t, readme, s)
	}

	up := readmeSection(t, readme, "Upgrading")
	order := []string{"systemctl stop", "bin/db-backup", "bin/migrate", "systemctl start"}
	for _, part := range []string{up[:strings.Index(up, "```")], up[strings.Index(up, "```"):]} {
		last := -1
		for _, step := range order {
			i := strings.Index(part, step)
			if i < 0 || i < last {
				t.Errorf("Upgrading: %q missing or out of order (stop, db-backup, migrate, start)", step)
			}
			last = i
		}
	}
	if !strings.Contains(up, "--force") {
		t.Error("Upgrading does not say how migrate's worker-lock refusal is overridden")
	}

	cron := readmeSection(t, readme, "Cron")
	lineRe := regexp.MustCompile(`(?m)^(?:@\w+|(?:\S+\s+){5})\s*cd /opt/supervisor && bin/([a-z-]+)`)
	lines := lineRe.FindAllStringSubmatch(cron, -1)
	if len(lines) < 5 {
		t.Fatalf("Cron: %d crontab lines, want the batch workers and the nightly jobs", len(lines))
	}
	seen := map[string]bool{}
	for _, m := range lines {
		seen[m[1]] = true
		if _, err := os.Stat(filepath.Join("..", "cmd", m[1], "main.go")); err != nil {
			t.Errorf("Cron line starts %s, which is no binary in cmd/", m[1])
		}
	}
	for _, want := range []string{"scan-worker", "db-backup", "consistency-check", "jobs-admin"} {
		if !seen[want] {
			t.Errorf("Cron: no line for %s", want)
		}
	}
}
