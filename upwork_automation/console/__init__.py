"""The operator's console in the admin: the review inbox, the business dashboard and shared admin helpers."""
