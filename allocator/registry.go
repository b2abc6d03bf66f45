package allocator

// Registry returns every registered allocator, in the order `portsim list`
// prints them. It is the one place an allocator is registered: add a new
// one here (see README.md, "Adding an allocator"). Each call returns a new
// slice; there is no package state.
func Registry() []Spec {
	return []Spec{
		// Textbook algorithms.
		sequentialSpec(),
		rfc6056Alg1Spec(),
		rfc6056Alg2Spec(),
		rfc6056Alg3Spec(),
		rfc6056Alg4Spec(),
		rfc6056Alg5Spec(),
		// Linux, newest first.
		linuxSpec(),
		linux512Spec(),
		linux46Spec(),
		linux41Spec(),
		linuxBindSpec(),
		linuxUDPSpec(),
		netfilterSpec(),
		netfilter64Spec(),
		netfilterRoverSpec(),
		// BSDs and other stacks.
		freebsdSpec(),
		freebsd13Spec(),
		freebsd12Spec(),
		openbsdSpec(),
		netbsdSpec(),
		macosSpec(),
		windowsSpec(),
		lwipSpec(),
		// User-space and workaround allocators.
		fifoSpec(),
		randomWindowSpec(),
	}
}
