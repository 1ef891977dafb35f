//! The one implementation of package authentication: HMAC-SHA-256 under the kernel's key.
//!
//! A package's tag (see `udf_kernel_glue::package`) is the MAC of every byte before it. The
//! writer ([`tag`]) and the reader ([`check`], constant-time) are here, in the runtime, because
//! the runtime maps native code only from bytes it has itself authenticated
//! ([`crate::native::NativeProgram::load_authenticated`]); the package reader calls the same
//! functions.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Bytes of a tag.
pub const TAG_LEN: usize = 32;

/// Why a tag could not be made or checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacError {
    /// The key is empty.
    EmptyKey,
    /// The tag is not the MAC of the message under the key.
    BadTag,
}

type HmacSha256 = Hmac<Sha256>;

fn keyed(key: &[u8]) -> Result<HmacSha256, MacError> {
    if key.is_empty() {
        return Err(MacError::EmptyKey);
    }
    HmacSha256::new_from_slice(key).map_err(|_| MacError::EmptyKey)
}

/// The tag of `message` under `key` (an empty key is refused).
pub fn tag(key: &[u8], message: &[u8]) -> Result<[u8; TAG_LEN], MacError> {
    let mut m = keyed(key)?;
    m.update(message);
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&m.finalize().into_bytes());
    Ok(tag)
}

/// Checks that `tag` is the tag of `message` under `key`, in constant time.
pub fn check(key: &[u8], message: &[u8], tag: &[u8]) -> Result<(), MacError> {
    let mut m = keyed(key)?;
    m.update(message);
    m.verify_slice(tag).map_err(|_| MacError::BadTag)
}

/// Checks the tag that ends `signed` (its last [`TAG_LEN`] bytes) over every byte before it;
/// on success gives back those bytes, the authenticated message.
pub fn check_trailing<'a>(key: &[u8], signed: &'a [u8]) -> Result<&'a [u8], MacError> {
    let Some(body) = signed.len().checked_sub(TAG_LEN) else {
        return Err(MacError::BadTag);
    };
    check(key, &signed[..body], &signed[body..])?;
    Ok(&signed[..body])
}
