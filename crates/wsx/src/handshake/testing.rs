//! A dummy extension for the handshake tests: it shows the negotiation hook without depending
//! on any real extension.
#![forbid(unsafe_code)]

use crate::proto::error::{HandshakeError, ProtocolError};
use crate::proto::{Extension, ExtensionFactory, ExtensionOffer};
use bytes::BytesMut;

/// Negotiates `x-test`. The server side accepts the first offer that has no `reject` parameter
/// and echoes it; the client side offers `x-test; level=1, x-test` and confirms any `x-test`
/// answer without a `bogus` parameter.
pub(crate) struct TestFactory;

/// The extension [`TestFactory`] builds: it never transforms anything.
#[derive(Debug)]
pub(crate) struct TestExtension;

impl Extension for TestExtension {
    fn rsv_bits(&self) -> u8 {
        0x40
    }

    fn decode(
        &mut self,
        payload: &[u8],
        _fin: bool,
        out: &mut BytesMut,
        _limit: usize,
    ) -> Result<(), ProtocolError> {
        out.extend_from_slice(payload);
        Ok(())
    }

    fn encode(
        &mut self,
        _payload: &[u8],
        _out: &mut BytesMut,
    ) -> Result<Option<u8>, ProtocolError> {
        Ok(None)
    }
}

impl ExtensionFactory for TestFactory {
    fn name(&self) -> &'static str {
        "x-test"
    }

    fn accept(&self, offers: &[ExtensionOffer]) -> Option<(ExtensionOffer, Box<dyn Extension>)> {
        let chosen = offers
            .iter()
            .find(|offer| offer.params.iter().all(|(name, _)| name != "reject"))?;
        Some((chosen.clone(), Box::new(TestExtension)))
    }

    fn offer(&self) -> Vec<ExtensionOffer> {
        vec![
            ExtensionOffer {
                name: "x-test".into(),
                params: vec![("level".into(), Some("1".into()))],
            },
            ExtensionOffer {
                name: "x-test".into(),
                params: Vec::new(),
            },
        ]
    }

    fn confirm(&self, response: &ExtensionOffer) -> Result<Box<dyn Extension>, HandshakeError> {
        if response.params.iter().any(|(name, _)| name == "bogus") {
            return Err(HandshakeError::UnofferedExtension(response.to_string()));
        }
        Ok(Box::new(TestExtension))
    }
}

/// Drops the parsed head so results can be compared.
pub(crate) fn head_of<T>(
    result: Result<Option<(T, usize)>, HandshakeError>,
) -> Result<Option<usize>, HandshakeError> {
    result.map(|head| head.map(|(_, len)| len))
}
