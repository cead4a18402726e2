//! `--device cpu | cuda | cuda:N`, and running a generic function on the chosen burn backend.

use anyhow::{bail, Result};
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda(usize),
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| format!("unknown device '{s}': use cpu, cuda or cuda:N")),
        }
    }
}

/// Something to run on a backend chosen at run time.
pub trait OnBackend {
    type Output;
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        device: B::Device,
    ) -> Result<Self::Output>;
}

pub fn dispatch<T: OnBackend>(device: Device, job: T) -> Result<T::Output> {
    dispatch_all(&Devices(vec![device]), One(job))
}

/// `--device` for training: one device, or a comma-separated list of devices of one kind
/// (`cpu,cpu`, `cuda:0,cuda:1`), one data-parallel peer each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Devices(pub Vec<Device>);

impl std::fmt::Display for Devices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.0.iter().map(|d| d.to_string()).collect();
        write!(f, "{}", names.join(","))
    }
}

impl FromStr for Devices {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let devices = s
            .split(',')
            .map(|d| d.trim().parse())
            .collect::<std::result::Result<Vec<Device>, String>>()?;
        let cpus = devices.iter().filter(|d| **d == Device::Cpu).count();
        if cpus != 0 && cpus != devices.len() {
            return Err(format!(
                "'{s}': mix of cpu and cuda devices; list devices of one kind"
            ));
        }
        for (i, d) in devices.iter().enumerate() {
            if matches!(d, Device::Cuda(_)) && devices[..i].contains(d) {
                return Err(format!("'{s}': {d} is listed twice"));
            }
        }
        Ok(Devices(devices))
    }
}

/// Something to run on a backend chosen at run time, given all the listed devices.
pub trait OnDevices {
    type Output;
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        devices: Vec<B::Device>,
    ) -> Result<Self::Output>;
}

/// A one-device job seen as a job on a list of one.
struct One<T>(T);

impl<T: OnBackend> OnDevices for One<T> {
    type Output = T::Output;
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        devices: Vec<B::Device>,
    ) -> Result<T::Output> {
        let device = devices.into_iter().next().expect("one device");
        self.0.run::<B>(device)
    }
}

pub fn dispatch_all<T: OnDevices>(devices: &Devices, job: T) -> Result<T::Output> {
    match devices.0.first() {
        Some(Device::Cpu) => job.run::<burn::backend::Autodiff<burn::backend::Flex>>(vec![
            Default::default();
            devices.0.len()
        ]),
        Some(Device::Cuda(_)) => cuda(devices, job),
        None => bail!("--device: no device given"),
    }
}

#[cfg(feature = "cuda")]
fn cuda<T: OnDevices>(devices: &Devices, job: T) -> Result<T::Output> {
    use burn::backend::{cuda::CudaDevice, Autodiff, Cuda};
    let mut found = Vec::new();
    for device in &devices.0 {
        let Device::Cuda(index) = *device else {
            bail!("--device {devices}: mix of cpu and cuda devices");
        };
        // cudarc panics when the driver library is missing: turn that into an error.
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {})); // keep the probe's panic message off the terminal
        let probe = std::panic::catch_unwind(|| {
            let device = CudaDevice::new(index);
            let _ = burn::tensor::Tensor::<Cuda, 1>::zeros([1], &device).into_data();
        });
        std::panic::set_hook(default_hook);
        if probe.is_err() {
            bail!("--device cuda:{index}: no usable CUDA device (driver library missing or GPU unavailable)");
        }
        found.push(CudaDevice::new(index));
    }
    job.run::<Autodiff<Cuda>>(found)
}

#[cfg(not(feature = "cuda"))]
fn cuda<T: OnDevices>(devices: &Devices, _job: T) -> Result<T::Output> {
    bail!("--device {devices}: this build has no CUDA support; rebuild with `cargo build --release --features cuda`")
}
