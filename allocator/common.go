package allocator

import (
	"math/rand/v2"
	"time"
)

// Purposes of the independent random streams an allocator derives from
// its seed, so that, for example, a secret key never shares bits with the
// stream that picks random offsets.
const (
	streamPick   uint64 = 1 // random offsets and picks
	streamSecret uint64 = 2 // keyed-hash secrets
	streamTable  uint64 = 3 // initial table contents
	streamClock  uint64 = 4 // phase of a modelled kernel clock
	streamWindow uint64 = 5 // user-space choices layered on a kernel model
)

// newRNG returns a PCG generator for one purpose of one seed.
func newRNG(seed, purpose uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, streamSeed(purpose)))
}

// streamSeed is the second PCG seed of a purpose's stream.
func streamSeed(purpose uint64) uint64 { return 0x9e3779b97f4a7c15 ^ purpose }

// secretKey derives a 128-bit SipHash key from the seed.
func secretKey(seed uint64) (k0, k1 uint64) {
	r := newRNG(seed, streamSecret)
	return r.Uint64(), r.Uint64()
}

// Linux and BSD model stacks' common TIME_WAIT lengths.
const (
	twLinux   = 60 * time.Second  // include/net/tcp.h TCP_TIMEWAIT_LEN
	twBSD     = 60 * time.Second  // 2 x TCPTV_MSL (30 s)
	twMacOS   = 30 * time.Second  // 2 x TCPTV_MSL (15 s) in XNU
	twWindows = 120 * time.Second // TcpTimedWaitDelay default
	twLwIP    = 120 * time.Second // 2 x TCP_MSL (60 s)
)

// linuxProfile is the default profile of current Linux (6.x): range
// 32768-60999 (net.ipv4.ip_local_port_range since 4.2), 60 s TIME_WAIT,
// 4-tuple sharing for connect(), tcp_tw_reuse = 2 (loopback only) with a
// 1 s tcp_tw_reuse_delay, timestamps on.
func linuxProfile() Profile {
	return Profile{
		Range:        Range{Lo: 32768, Hi: 60999},
		TimeWait:     twLinux,
		Scope:        FourTuple,
		TWReuse:      2,
		TWReuseDelay: time.Second,
		Timestamps:   true,
	}
}
