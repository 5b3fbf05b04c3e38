//! exFAT timestamps: a DOS date/time (2-second resolution, years 1980..=2107), a 10 ms
//! increment and an optional offset from UTC in 15-minute steps.
//!
//! The core has no clock; callers pass the time in (the host from `SystemTime`, the firmware
//! from the RTC).

/// A calendar time as exFAT stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// 1980..=2107; out-of-range values are clamped when stored.
    pub year: u16,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
    /// 0..=23
    pub hour: u8,
    /// 0..=59
    pub minute: u8,
    /// 0..=59
    pub second: u8,
    /// Hundredths of a second, 0..=99.
    pub centiseconds: u8,
    /// Offset of this local time from UTC in minutes (a multiple of 15, -720..=840), or `None`
    /// when unknown (exFAT then treats the time as local).
    pub utc_offset_minutes: Option<i16>,
}

impl Timestamp {
    /// 1980-01-01 00:00:00 UTC, the earliest time exFAT can store.
    pub const EPOCH: Timestamp = Timestamp {
        year: 1980,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        centiseconds: 0,
        utc_offset_minutes: Some(0),
    };

    /// The UTC time `secs` seconds after 1970-01-01, clamped to what exFAT can store.
    pub fn from_unix(secs: i64) -> Timestamp {
        let days = secs.div_euclid(86_400);
        let second_of_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if year < 1980 {
            return Timestamp::EPOCH;
        }
        if year > 2107 {
            return Timestamp {
                year: 2107,
                month: 12,
                day: 31,
                hour: 23,
                minute: 59,
                second: 59,
                centiseconds: 99,
                utc_offset_minutes: Some(0),
            };
        }
        Timestamp {
            year: year as u16,
            month: month as u8,
            day: day as u8,
            hour: (second_of_day / 3600) as u8,
            minute: (second_of_day / 60 % 60) as u8,
            second: (second_of_day % 60) as u8,
            centiseconds: 0,
            utc_offset_minutes: Some(0),
        }
    }

    /// Seconds since 1970-01-01 UTC (a time with unknown offset is taken as UTC).
    pub fn to_unix(&self) -> i64 {
        let days =
            days_from_civil(i64::from(self.year), i64::from(self.month), i64::from(self.day));
        let local = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        local - i64::from(self.utc_offset_minutes.unwrap_or(0)) * 60
    }

    /// Encode as (timestamp field, 10 ms increment field, UTC offset field).
    pub(crate) fn encode(&self) -> (u32, u8, u8) {
        let year = self.year.clamp(1980, 2107) - 1980;
        let month = self.month.clamp(1, 12);
        let day = self.day.clamp(1, 31);
        let hour = self.hour.min(23);
        let minute = self.minute.min(59);
        let second = self.second.min(59);
        let field = (u32::from(year) << 25)
            | (u32::from(month) << 21)
            | (u32::from(day) << 16)
            | (u32::from(hour) << 11)
            | (u32::from(minute) << 5)
            | u32::from(second / 2);
        let increment = (second % 2) * 100 + self.centiseconds.min(99);
        let utc = match self.utc_offset_minutes {
            // Bit 7 marks the offset valid; bits 0..=6 are a signed count of 15-minute steps.
            Some(minutes) => 0x80 | ((minutes.clamp(-12 * 60, 14 * 60) / 15) as i8 as u8 & 0x7F),
            None => 0,
        };
        (field, increment, utc)
    }

    /// Decode the three on-disk fields. Never fails: odd values are carried through as read.
    pub(crate) fn decode(field: u32, increment: u8, utc: u8) -> Timestamp {
        let increment = increment.min(199);
        let double_seconds = (field & 0x1F) as u8;
        let utc_offset_minutes = if utc & 0x80 != 0 {
            // Sign-extend the 7-bit value.
            let steps = ((utc << 1) as i8) >> 1;
            Some(i16::from(steps) * 15)
        } else {
            None
        };
        Timestamp {
            year: 1980 + (field >> 25) as u16,
            month: ((field >> 21) & 0xF) as u8,
            day: ((field >> 16) & 0x1F) as u8,
            hour: ((field >> 11) & 0x1F) as u8,
            minute: ((field >> 5) & 0x3F) as u8,
            second: double_seconds * 2 + increment / 100,
            centiseconds: increment % 100,
            utc_offset_minutes,
        }
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Shift to an era-based count starting 0000-03-01 so leap days fall at the end of a year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
