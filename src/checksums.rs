//! The CRCs S3 checks bodies with (`x-amz-checksum-crc32c`, `-crc64nvme`, and CRC32 for
//! downloads of objects other clients wrote): computing them fast, and combining part
//! CRCs into the whole object's (`FULL_OBJECT` multipart uploads) without reading a byte
//! twice.
//!
//! Slice-by-16 tables (the `crc` crate's `Table<16>`), the fastest portable method: wasm
//! has no carry-less multiply, so no SIMD CRC exists for it. The tables (16 KiB per 32-bit
//! CRC, 32 KiB per 64-bit one) are built on first use rather than shipped in the
//! component, whose size is a budget (README "Size").

use std::sync::OnceLock;

type Crc32 = crc::Crc<u32, crc::Table<16>>;
type Crc64 = crc::Crc<u64, crc::Table<16>>;

fn crc32() -> &'static Crc32 {
    static T: OnceLock<Crc32> = OnceLock::new();
    T.get_or_init(|| Crc32::new(std::hint::black_box(&crc::CRC_32_ISO_HDLC)))
}

fn crc32c() -> &'static Crc32 {
    static T: OnceLock<Crc32> = OnceLock::new();
    T.get_or_init(|| Crc32::new(std::hint::black_box(&crc::CRC_32_ISCSI)))
}

fn crc64nvme() -> &'static Crc64 {
    static T: OnceLock<Crc64> = OnceLock::new();
    T.get_or_init(|| Crc64::new(std::hint::black_box(&crc::CRC_64_NVME)))
}

/// A checksum S3 can check an upload against in a plain header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
}

impl Algorithm {
    /// The header carrying the value (`x-amz-checksum-crc64nvme`).
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
        }
    }

    /// The name in `x-amz-checksum-algorithm` and `x-amz-sdk-checksum-algorithm`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
        }
    }

    /// The element naming a part's value in CompleteMultipartUpload's body.
    pub fn xml_tag(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "ChecksumCRC32",
            Algorithm::Crc32c => "ChecksumCRC32C",
            Algorithm::Crc64Nvme => "ChecksumCRC64NVME",
        }
    }

    /// The polynomial, bit-reflected (all three CRCs are reflected, with all-ones initial
    /// value and final XOR: what `combine` relies on).
    fn reflected_poly(self) -> u64 {
        match self {
            Algorithm::Crc32 => 0xEDB8_8320,
            Algorithm::Crc32c => 0x82F6_3B78,
            Algorithm::Crc64Nvme => 0x9A6C_9329_AC4B_C9B5,
        }
    }

    fn width(self) -> u32 {
        match self {
            Algorithm::Crc64Nvme => 64,
            _ => 32,
        }
    }

    /// The CRC of `data`.
    pub fn checksum(self, data: &[u8]) -> u64 {
        let mut d = self.digest();
        d.update(data);
        d.finish()
    }

    pub fn digest(self) -> Digest {
        match self {
            Algorithm::Crc32 => Digest::Crc32(crc32().digest()),
            Algorithm::Crc32c => Digest::Crc32(crc32c().digest()),
            Algorithm::Crc64Nvme => Digest::Crc64(crc64nvme().digest()),
        }
    }

    /// The header value: the CRC's big-endian bytes in base64.
    pub fn encode(self, crc: u64) -> String {
        let bytes = crc.to_be_bytes();
        aws_smithy_types::base64::encode(&bytes[8 - self.width() as usize / 8..])
    }

    /// The length of `encode`'s values.
    pub fn encoded_len(self) -> usize {
        if self.width() == 64 { 12 } else { 8 }
    }

    /// The CRC of `a ‖ b` from `crc_a`, `crc_b` and `b`'s length: how a multipart upload's
    /// whole-object CRC comes from its parts' (zlib's `crc32_combine`, for any reflected
    /// width): crc(a‖b) = crc_a · x^(8·len_b) mod P ⊕ crc_b.
    pub fn combine(self, crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
        multiply(self.x_to_the_8n(len_b), crc_a, self) ^ crc_b
    }

    /// x^(8n) mod P, by squaring: x^8, x^16, x^32, ... multiplied in where n has a bit.
    fn x_to_the_8n(self, mut n: u64) -> u64 {
        let top = 1u64 << (self.width() - 1);
        let mut result = top; // x^0 (reflected: the top bit is the constant term)
        let mut square = top >> 8; // x^8
        while n != 0 {
            if n & 1 == 1 {
                result = multiply(square, result, self);
            }
            square = multiply(square, square, self);
            n >>= 1;
        }
        result
    }
}

/// a·b mod P, both reflected polynomials of the algorithm's width.
fn multiply(a: u64, mut b: u64, alg: Algorithm) -> u64 {
    let poly = alg.reflected_poly();
    let mut m = 1u64 << (alg.width() - 1);
    let mut product = 0;
    while m != 0 {
        if a & m != 0 {
            product ^= b;
        }
        m >>= 1;
        b = if b & 1 == 1 { (b >> 1) ^ poly } else { b >> 1 };
    }
    product
}

/// A running CRC.
pub enum Digest {
    Crc32(crc::Digest<'static, u32, crc::Table<16>>),
    Crc64(crc::Digest<'static, u64, crc::Table<16>>),
}

impl Digest {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Digest::Crc32(d) => d.update(data),
            Digest::Crc64(d) => d.update(data),
        }
    }

    pub fn finish(self) -> u64 {
        match self {
            Digest::Crc32(d) => u64::from(d.finalize()),
            Digest::Crc64(d) => d.finalize(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Algorithm::{self, *};

    const ALL: [Algorithm; 3] = [Crc32, Crc32c, Crc64Nvme];

    #[test]
    fn check_values_and_header_encoding() {
        // The catalogue's check values: the CRC of "123456789".
        assert_eq!(Crc32.checksum(b"123456789"), 0xCBF4_3926);
        assert_eq!(Crc32c.checksum(b"123456789"), 0xE306_9283);
        assert_eq!(Crc64Nvme.checksum(b"123456789"), 0xAE8B_1486_0A79_9888);
        // S3's examples: the empty body's CRC32C is AAAAAA==, CRC64NVME AAAAAAAAAAA=.
        assert_eq!(Crc32c.encode(Crc32c.checksum(b"")), "AAAAAA==");
        assert_eq!(Crc64Nvme.encode(Crc64Nvme.checksum(b"")), "AAAAAAAAAAA=");
        assert_eq!(Crc32c.encode(0xE306_9283), "4waSgw==");
        for alg in ALL {
            assert_eq!(alg.encode(u64::MAX).len(), alg.encoded_len(), "{alg:?}");
        }
    }

    #[test]
    fn combined_part_crcs_equal_the_whole_objects() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for alg in ALL {
            let whole = alg.checksum(&data);
            for cut in [0, 1, 7, 8, 9, 4096, 12_345, 19_999, 20_000] {
                let (a, b) = data.split_at(cut);
                assert_eq!(alg.combine(alg.checksum(a), alg.checksum(b), b.len() as u64), whole, "{alg:?} cut at {cut}");
            }
            // Many parts, folded in order, as CompleteMultipartUpload's header is made.
            let folded = data.chunks(3001).fold(alg.checksum(b""), |acc, part| alg.combine(acc, alg.checksum(part), part.len() as u64));
            assert_eq!(folded, whole, "{alg:?} in parts");
        }
    }

    #[test]
    fn chunked_updates_equal_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for alg in ALL {
            let mut d = alg.digest();
            for c in data.chunks(333) {
                d.update(c);
            }
            assert_eq!(d.finish(), alg.checksum(&data), "{alg:?}");
        }
    }
}
