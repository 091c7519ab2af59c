"""Job discovery: find, filter and rank Upwork jobs from the official API or a polite browser session."""
