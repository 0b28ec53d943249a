"""An order workflow: place, pay, ship, cancel, with each rule a domain error."""
