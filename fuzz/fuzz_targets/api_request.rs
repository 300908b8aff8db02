//! A control-plane request as a worker or the coordinator receives it: the whole frame
//! (length prefix, version, postcard body) through `decode_frame`, and the input as a body
//! behind a valid prefix, so the fuzzer reaches postcard without guessing the length.
//! A request that decodes re-encodes and decodes to itself.
#![no_main]

use coordinator::api::{Request, decode_frame, encode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_frame::<Request>(data);
    let framed = quorate_fuzz::framed(data);
    if let Ok(request) = decode_frame::<Request>(&framed) {
        let again = encode_frame(&request).expect("a decoded request encodes");
        assert_eq!(
            decode_frame::<Request>(&again).expect("and decodes"),
            request
        );
    }
});
