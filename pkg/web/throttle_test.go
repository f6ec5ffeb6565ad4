package web

import (
	"strconv"
	"testing"
	"time"
)

func TestLoginLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t.Run("free misses, then doubling waits up to the cap", func(t *testing.T) {
		l := newLoginLimiter(10)
		var waits []time.Duration
		for i := 0; i < loginFreeFailures+30; i++ {
			_, d := l.fail("192.0.2.1", t0)
			waits = append(waits, d)
		}
		for i := 0; i < loginFreeFailures; i++ {
			if waits[i] != 0 {
				t.Fatalf("miss %d waits %v, want free", i+1, waits[i])
			}
		}
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
		for i, w := range want {
			if got := waits[loginFreeFailures+i]; got != w {
				t.Fatalf("miss %d waits %v, want %v", loginFreeFailures+i+1, got, w)
			}
		}
		if last := waits[len(waits)-1]; last != loginMaxWait {
			t.Fatalf("30 misses past the free ones wait %v, want the cap %v", last, loginMaxWait)
		}
		if d := l.wait("192.0.2.1", t0.Add(loginMaxWait-time.Second)); d != time.Second {
			t.Fatalf("remaining wait %v", d)
		}
		if d := l.wait("192.0.2.2", t0); d != 0 {
			t.Fatalf("another address waits %v", d)
		}
	})
	t.Run("success and time forget the misses", func(t *testing.T) {
		l := newLoginLimiter(10)
		for i := 0; i < loginFreeFailures; i++ {
			l.fail("192.0.2.1", t0)
		}
		l.succeed("192.0.2.1")
		if n, d := l.fail("192.0.2.1", t0); n != 1 || d != 0 {
			t.Fatalf("after success: miss %d waits %v", n, d)
		}
		for i := 0; i < loginFreeFailures; i++ {
			l.fail("192.0.2.1", t0)
		}
		if n, d := l.fail("192.0.2.1", t0.Add(loginForget)); n != 1 || d != 0 {
			t.Fatalf("after %v without a miss: miss %d waits %v", loginForget, n, d)
		}
	})
	t.Run("one IPv6 /64 is one address", func(t *testing.T) {
		l := newLoginLimiter(10)
		for i := 0; i <= loginFreeFailures; i++ {
			l.fail("2001:db8:1:2::"+strconv.Itoa(i+1), t0)
		}
		if d := l.wait("2001:db8:1:2:ffff::9", t0); d == 0 {
			t.Fatal("rotating through a /64 escapes the wait")
		}
		if d := l.wait("2001:db8:1:3::1", t0); d != 0 {
			t.Fatal("the neighbouring /64 waits too")
		}
	})
	t.Run("memory is bounded", func(t *testing.T) {
		l := newLoginLimiter(3)
		for i := 0; i < 100; i++ {
			l.fail("198.51.100."+strconv.Itoa(i), t0.Add(time.Duration(i)*time.Second))
		}
		if len(l.entries) != 3 || l.lru.Len() != 3 {
			t.Fatalf("%d entries, %d in LRU, want 3", len(l.entries), l.lru.Len())
		}
		if _, ok := l.entries["198.51.100.99"]; !ok {
			t.Fatal("the newest address was evicted instead of the oldest")
		}
	})
}

func TestWaitSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{{time.Millisecond, 1}, {time.Second, 1}, {1500 * time.Millisecond, 2}, {15 * time.Minute, 900}} {
		if got := waitSeconds(tc.d); got != tc.want {
			t.Errorf("waitSeconds(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}
