package mail

// Wake tells the deliverer that mail was queued and committed, so a
// transactional message (an invitation, a reset link) leaves at once rather
// than at the next scheduled tick. Signals coalesce: many commits while a
// delivery runs make one more run. It holds no message; the outbox row is
// the record, and the scheduled tick still delivers whatever a lost signal
// (another replica's commit, a restart) left.
type Wake struct{ c chan struct{} }

// NewWake returns a wake-up channel with room for one pending signal.
func NewWake() *Wake { return &Wake{c: make(chan struct{}, 1)} }

// Signal wakes the deliverer; it never blocks.
func (w *Wake) Signal() {
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// C is what the delivery loop selects on.
func (w *Wake) C() <-chan struct{} { return w.c }
