//! Data-parallel training on burn-collective: one peer per device, each a replica of the weights.
//!
//! Every peer runs the same step on its own rows of the global batch, with losses weighted by
//! their share of the global batch; before each update one all-reduce sums the gradients (and
//! the values the step logs) over all peers, so every replica takes the same update and the
//! replicas stay identical. The main peer (local peer 0) owns the run: data, logs, evaluation,
//! checkpoints; the other local peers are threads that only train.
//!
//! Within a process the peers meet in burn-collective. Between processes (nodes) the local sums
//! meet at node 0 over TCP ([`NodeLink`]): burn-collective 0.21's own global path hangs on its
//! second all-reduce (its node sync never clears the list of peers that have synced, in
//! `global/node/sync.rs`), so it cannot run a training loop.

use super::optim::{flat_grads, map_grads};
use anyhow::{anyhow, bail, Context, Result};
use burn::collective::{self, AllReduceStrategy, CollectiveConfig, PeerId, ReduceOperation};
use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::Range;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where this process's peers sit among all peers.
#[derive(Clone, Debug)]
pub struct Cluster<D> {
    /// This process's devices, one peer each; the first is the main peer's.
    pub devices: Vec<D>,
    /// Processes taking part (1 = this one alone).
    pub nodes: usize,
    pub node_rank: usize,
    /// HOST:PORT where node 0 listens for the other nodes (nodes > 1).
    pub coordinator: Option<String>,
}

impl<D: Clone> Cluster<D> {
    /// One peer: plain training.
    pub fn single(device: D) -> Self {
        Self {
            devices: vec![device],
            nodes: 1,
            node_rank: 0,
            coordinator: None,
        }
    }

    /// Peers over all nodes.
    pub fn peers(&self) -> usize {
        self.devices.len() * self.nodes
    }

    pub fn is_parallel(&self) -> bool {
        self.peers() > 1
    }

    /// Global rank of this process's local peer `local`.
    pub fn rank(&self, local: usize) -> usize {
        self.node_rank * self.devices.len() + local
    }

    /// The rows of a global batch of `rows` that the peer of global rank `rank` trains on:
    /// contiguous, as equal as they can be.
    pub fn shard(&self, rank: usize, rows: usize) -> Range<usize> {
        let p = self.peers();
        rank * rows / p..(rank + 1) * rows / p
    }

    /// Refuse a batch that leaves a peer without rows (every peer must make the same calls).
    pub fn check_batch(&self, rows: usize, what: &str) -> Result<()> {
        if rows < self.peers() {
            bail!(
                "{what} ({rows}) is smaller than the number of data-parallel peers ({}): every peer needs at least one row",
                self.peers()
            );
        }
        Ok(())
    }

    fn collective_config(&self) -> CollectiveConfig {
        CollectiveConfig::default()
            .with_num_devices(self.devices.len())
            .with_local_all_reduce_strategy(AllReduceStrategy::Centralized)
    }
}

/// One peer's place in the all-reduce.
#[derive(Clone)]
pub struct Peer {
    pub id: PeerId,
    /// Peers in this process.
    local: usize,
    /// Processes taking part.
    nodes: usize,
    /// Local peer 0 of a multi-node run: its link to the other nodes.
    link: Option<Arc<Mutex<NodeLink>>>,
}

impl Peer {
    /// Sum the gradients and `values` over all peers in one all-reduce. Every peer must call this
    /// the same number of times, with the same parameters and the same number of values.
    pub fn sum<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        model: &M,
        grads: GradientsParams,
        values: &[f64],
    ) -> Result<(GradientsParams, Vec<f64>)> {
        let mut parts = flat_grads(model, &grads);
        let device = parts.first().map(|t| t.device()).unwrap_or_default();
        let host: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        parts.push(Tensor::from_data(
            TensorData::new(host, [values.len()]),
            &device,
        ));
        let sizes: Vec<usize> = parts.iter().map(|t| t.dims()[0]).collect();
        let mut summed = Tensor::cat(parts, 0);
        if self.local > 1 {
            summed = self.local_sum(summed)?;
        }
        if self.nodes > 1 {
            // Local peer 0 trades the process's sum with the other nodes; the other local peers
            // receive the result through a second local sum to which only peer 0 adds anything
            // (adding zeros is exact, so every replica gets the same bits).
            let global = match &self.link {
                Some(link) => {
                    let mut data: Vec<f32> = summed.into_data().to_vec().expect("f32 gradients");
                    link.lock()
                        .map_err(|_| anyhow!("the node link was poisoned"))?
                        .sum(&mut data)?;
                    let n = data.len();
                    Tensor::from_data(TensorData::new(data, [n]), &device)
                }
                None => summed.zeros_like(),
            };
            summed = if self.local > 1 {
                self.local_sum(global)?
            } else {
                global
            };
        }
        let mut pieces = Vec::with_capacity(sizes.len());
        let mut start = 0;
        for n in sizes {
            pieces.push(summed.clone().narrow(0, start, n));
            start += n;
        }
        let values_out: Vec<f64> = pieces
            .pop()
            .expect("the values part")
            .into_data()
            .convert::<f64>()
            .to_vec()
            .expect("f64 values");
        let mut pieces = pieces.into_iter();
        let grads = map_grads(model, grads, |_| {
            pieces.next().expect("one piece per gradient")
        });
        Ok((grads, values_out))
    }

    /// The sum over this process's peers (burn-collective).
    fn local_sum<B: Backend>(&self, t: Tensor<B, 1>) -> Result<Tensor<B, 1>> {
        let out =
            collective::all_reduce::<B>(self.id, t.into_primitive().tensor(), ReduceOperation::Sum)
                .map_err(|e| anyhow!("data-parallel all-reduce failed: {e:?}"))?;
        Ok(Tensor::from_primitive(
            burn::tensor::TensorPrimitive::Float(out),
        ))
    }
}

/// Between processes: node 0 listens, the others connect; each sum, node 0 adds the nodes'
/// vectors in rank order and sends the result back, so every node gets the same bits.
pub struct NodeLink {
    /// Node 0: the other nodes' streams in rank order. Other nodes: the stream to node 0.
    streams: Vec<TcpStream>,
    hub: bool,
}

const HELLO: &[u8; 4] = b"trm1";

impl NodeLink {
    /// Node 0 waits (up to `wait`) for the other nodes; the others connect (retrying up to `wait`).
    pub fn connect(nodes: usize, rank: usize, address: &str, wait: Duration) -> Result<Self> {
        let deadline = Instant::now() + wait;
        if rank == 0 {
            let listener = TcpListener::bind(address)
                .with_context(|| format!("--coordinator {address}: cannot listen there"))?;
            listener.set_nonblocking(true)?;
            let mut streams: Vec<Option<TcpStream>> = (1..nodes).map(|_| None).collect();
            while streams.iter().any(Option::is_none) {
                match listener.accept() {
                    Ok((mut stream, from)) => {
                        stream.set_nonblocking(false)?;
                        let mut hello = [0u8; 12];
                        stream.read_exact(&mut hello)?;
                        let r =
                            u64::from_le_bytes(hello[4..].try_into().expect("8 bytes")) as usize;
                        if &hello[..4] != HELLO || r == 0 || r >= nodes || streams[r - 1].is_some()
                        {
                            bail!(
                                "--coordinator {address}: unexpected node (rank {r}) from {from}"
                            );
                        }
                        stream.set_nodelay(true)?;
                        streams[r - 1] = Some(stream);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if Instant::now() > deadline {
                            let missing: Vec<String> = (1..nodes)
                                .filter(|r| streams[r - 1].is_none())
                                .map(|r| r.to_string())
                                .collect();
                            bail!(
                                "--coordinator {address}: node(s) {} did not connect within {} s",
                                missing.join(", "),
                                wait.as_secs()
                            );
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(Self {
                streams: streams.into_iter().map(|s| s.expect("connected")).collect(),
                hub: true,
            });
        }
        loop {
            match TcpStream::connect(address) {
                Ok(mut stream) => {
                    stream.set_nodelay(true)?;
                    let mut hello = HELLO.to_vec();
                    hello.extend((rank as u64).to_le_bytes());
                    stream.write_all(&hello)?;
                    return Ok(Self {
                        streams: vec![stream],
                        hub: false,
                    });
                }
                Err(e) if Instant::now() > deadline => {
                    bail!(
                        "--coordinator {address}: node 0 not reachable within {} s ({e})",
                        wait.as_secs()
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Replace `data` by its sum over all nodes.
    pub fn sum(&mut self, data: &mut [f32]) -> Result<()> {
        let lost = |r: usize| {
            move |e: std::io::Error| anyhow!("data-parallel node {r} stopped answering ({e})")
        };
        if self.hub {
            for (i, stream) in self.streams.iter_mut().enumerate() {
                let theirs = read_floats(stream, data.len()).map_err(lost(i + 1))?;
                for (d, t) in data.iter_mut().zip(theirs) {
                    *d += t;
                }
            }
            let bytes = to_bytes(data);
            for (i, stream) in self.streams.iter_mut().enumerate() {
                stream.write_all(&bytes).map_err(lost(i + 1))?;
            }
        } else {
            let stream = &mut self.streams[0];
            stream.write_all(&to_bytes(data)).map_err(lost(0))?;
            let sum = read_floats(stream, data.len()).map_err(lost(0))?;
            data.copy_from_slice(&sum);
        }
        Ok(())
    }
}

fn to_bytes(data: &[f32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8 + 4 * data.len());
    bytes.extend((data.len() as u64).to_le_bytes());
    for v in data {
        bytes.extend(v.to_le_bytes());
    }
    bytes
}

fn read_floats(stream: &mut TcpStream, n: usize) -> std::io::Result<Vec<f32>> {
    let mut len = [0u8; 8];
    stream.read_exact(&mut len)?;
    if u64::from_le_bytes(len) as usize != n {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "nodes disagree on the gradient size: same config everywhere?",
        ));
    }
    let mut bytes = vec![0u8; 4 * n];
    stream.read_exact(&mut bytes)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect())
}

/// What a learner keeps to train data-parallel: the layout, its own peer, the other local peers.
pub struct Parallel<D, J> {
    pub cluster: Cluster<D>,
    pub peer: Peer,
    pub workers: Workers<J>,
}

impl<D: Clone + Send + 'static, J: Send + 'static> Parallel<D, J> {
    /// Start the other local peers on `replicas` (see [`Workers::start`]).
    pub fn start<B, L>(
        cluster: Cluster<D>,
        replicas: Vec<L>,
        work: fn(&mut L, J, &Peer) -> Result<()>,
    ) -> Result<Self>
    where
        B: AutodiffBackend<Device = D>,
        L: Send + 'static,
    {
        let (workers, peer) = Workers::start::<B, L>(&cluster, replicas, work)?;
        Ok(Self {
            cluster,
            peer,
            workers,
        })
    }
}

/// The local peers after the first: threads that run each job sent to them on their replica.
pub struct Workers<J> {
    senders: Vec<mpsc::Sender<J>>,
    handles: Vec<JoinHandle<()>>,
    main: PeerId,
    finish: fn(PeerId),
    /// The main peer's own thread pool (see [`peer_pool`]).
    pool: rayon::ThreadPool,
}

/// A thread pool per peer, sharing the process's threads (`RAYON_NUM_THREADS`, else the cores)
/// among the local peers: run on the one global pool, two peers' matrix products would queue
/// for the same threads while the peers' own threads wait.
fn peer_pool(local: usize) -> Result<rayon::ThreadPool> {
    let threads = (rayon::current_num_threads() / local).max(1);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("starting a data-parallel peer's thread pool")
}

impl<J: Send + 'static> Workers<J> {
    /// Register every local peer with burn-collective (the worker threads and this one; the
    /// call returns when all peers of all nodes have joined) and start the workers: worker i
    /// runs `work(&mut replicas[i], job, &peer)` for each job it is sent, until the sender goes
    /// or a job fails.
    pub fn start<B: AutodiffBackend, L: Send + 'static>(
        cluster: &Cluster<B::Device>,
        replicas: Vec<L>,
        work: fn(&mut L, J, &Peer) -> Result<()>,
    ) -> Result<(Self, Peer)> {
        let link = match (&cluster.coordinator, cluster.nodes > 1) {
            (Some(address), true) => Some(Arc::new(Mutex::new(NodeLink::connect(
                cluster.nodes,
                cluster.node_rank,
                address,
                Duration::from_secs(300),
            )?))),
            (None, true) => bail!("--nodes {} needs --coordinator HOST:PORT", cluster.nodes),
            _ => None,
        };
        let config = cluster.collective_config();
        collective::reset_collective::<B::InnerBackend>();
        let local = cluster.devices.len();
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for (i, mut replica) in replicas.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel::<J>();
            let peer = Peer {
                id: PeerId::from(i + 1),
                local,
                nodes: cluster.nodes,
                link: None,
            };
            let device = cluster.devices[i + 1].clone();
            let config = config.clone();
            let pool = peer_pool(local)?;
            let handle = std::thread::Builder::new()
                .name(format!("trm-peer-{}", i + 1))
                .spawn(move || {
                    if let Err(e) = collective::register::<B::InnerBackend>(peer.id, device, config)
                    {
                        eprintln!("error: data-parallel peer {} could not join: {e:?}", i + 1);
                        return;
                    }
                    let id = peer.id;
                    pool.install(move || {
                        while let Ok(job) = rx.recv() {
                            if work(&mut replica, job, &peer).is_err() {
                                // the main peer sees the same summed loss and stops the run
                                break;
                            }
                        }
                    });
                    let _ = collective::finish_collective::<B::InnerBackend>(id);
                })
                .context("starting a data-parallel peer thread")?;
            senders.push(tx);
            handles.push(handle);
        }
        let main = PeerId::from(0);
        collective::register::<B::InnerBackend>(main, cluster.devices[0].clone(), config)
            .map_err(|e| anyhow!("data-parallel peer 0 could not join: {e:?}"))?;
        Ok((
            Self {
                senders,
                handles,
                main,
                finish: |id| {
                    let _ = collective::finish_collective::<B::InnerBackend>(id);
                },
                pool: peer_pool(local)?,
            },
            Peer {
                id: main,
                local,
                nodes: cluster.nodes,
                link,
            },
        ))
    }

    /// Send local worker `i` (local peer i + 1) its job.
    pub fn send(&self, i: usize, job: J) -> Result<()> {
        self.senders[i]
            .send(job)
            .map_err(|_| anyhow!("data-parallel peer {} has stopped", i + 1))
    }

    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// Run the main peer's share of a step on its own thread pool.
    pub fn run_main<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }
}

impl<J> Drop for Workers<J> {
    fn drop(&mut self) {
        self.senders.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        (self.finish)(self.main);
    }
}
