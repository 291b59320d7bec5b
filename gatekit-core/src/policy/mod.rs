//! The policy engine: rules compiled into a [`Policy`] that decides allow, deny or review.
