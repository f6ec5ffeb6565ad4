package forgejob_test

import (
	"crypto/md5"
	"encoding/hex"
	"strconv"
)

func md5sum(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func strconvI(v int64) string { return strconv.FormatInt(v, 10) }
