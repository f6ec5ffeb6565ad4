package sdmeta

import (
	"context"
	"os/exec"
)

func runCmd(ctx context.Context, bin string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, bin, args...).Output()
}
