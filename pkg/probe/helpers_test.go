package probe

import (
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

func svtestSharedFixtures(t testing.TB) string { return svtest.SharedFixtures(t) }
