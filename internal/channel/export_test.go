package channel

import "time"

// SetLease shortens a deliverer's lease for tests of its time budget.
func SetLease(d *Deliverer, l time.Duration) { d.lease = l }
