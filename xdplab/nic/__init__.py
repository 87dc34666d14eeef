"""NIC drivers and the hardware they drive."""
