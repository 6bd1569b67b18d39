echo present
