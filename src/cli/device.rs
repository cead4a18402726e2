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
    match device {
        Device::Cpu => job.run::<burn::backend::Autodiff<burn::backend::Flex>>(Default::default()),
        Device::Cuda(index) => cuda(index, job),
    }
}

#[cfg(feature = "cuda")]
fn cuda<T: OnBackend>(index: usize, job: T) -> Result<T::Output> {
    use burn::backend::{cuda::CudaDevice, Autodiff, Cuda};
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
    job.run::<Autodiff<Cuda>>(CudaDevice::new(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda<T: OnBackend>(index: usize, _job: T) -> Result<T::Output> {
    bail!("--device cuda:{index}: this build has no CUDA support; rebuild with `cargo build --release --features cuda`")
}
